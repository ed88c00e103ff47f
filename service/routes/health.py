"""Liveness and readiness, for load balancers and orchestrators."""

from fastapi import APIRouter

from schemas.api import Health
from service.predictor import ModelUnavailableError
from service.problems import problem_responses
from service.routes.deps import Registry

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Health, summary="The process is up")
async def live() -> Health:
    return Health(status="alive")


@router.get(
    "/ready",
    response_model=Health,
    summary="A model is loaded and requests can be scored",
    responses=problem_responses(503),
)
async def ready(registry: Registry) -> Health:
    if registry.default is None:
        raise ModelUnavailableError(f"not ready: {registry.not_ready_reason}")
    return Health(status="ready", model_version=registry.default.version)
