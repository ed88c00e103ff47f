"""Liveness and readiness, for load balancers and orchestrators (never behind a key)."""

from fastapi import APIRouter

from schemas.api import Health
from service.errors import problem_responses
from service.predictor import ModelUnavailableError
from service.routes.deps import Registry

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", operation_id="getLiveness", summary="The process is up")
async def live() -> Health:
    return Health(status="alive")


@router.get(
    "/ready",
    operation_id="getReadiness",
    summary="A model is loaded and requests can be scored",
    responses=problem_responses(ModelUnavailableError),
)
async def ready(registry: Registry) -> Health:
    if registry.default is None:
        raise ModelUnavailableError(f"not ready: {registry.not_ready_reason}")
    return Health(status="ready", model_version=registry.default.version)
