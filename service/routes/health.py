"""Liveness and readiness, for load balancers and orchestrators (never behind a key)."""

from fastapi import APIRouter

from schemas.api import Health, Readiness
from service.decisions import DecisionLogUnavailableError
from service.errors import problem_responses
from service.registry import ModelUnavailableError
from service.routes.deps import Decisions, Registry

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", operation_id="getLiveness", summary="The process is up")
async def live() -> Health:
    return Health(status="alive")


@router.get(
    "/ready",
    operation_id="getReadiness",
    summary="A model is loaded and decisions can be recorded",
    responses=problem_responses(ModelUnavailableError, DecisionLogUnavailableError),
    response_model_exclude_none=True,
)
async def ready(registry: Registry, decisions: Decisions) -> Readiness:
    """Ready when a model is loaded and the decision log takes writes (or is off). Each
    shadow's state is shown; a shadow that cannot load or score never makes it unready."""
    if registry.default is None:
        raise ModelUnavailableError(f"not ready: {registry.not_ready_reason}")
    if decisions.unavailable_reason is not None:
        raise DecisionLogUnavailableError(f"not ready: {decisions.unavailable_reason}")
    shadows = registry.shadows.status() if registry.shadows else None
    return Readiness(status="ready", model_version=registry.default.version, shadows=shadows)
