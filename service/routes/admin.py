"""POST /admin/reload: pick up a promotion now, in this worker (the `admin` scope).

Every worker also watches the store on its own (MODEL_WATCH_SECONDS), which is how a
promotion reaches all workers; this endpoint makes the worker that receives it switch at
once and say what happened.
"""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from schemas.api import ReloadResult
from service.errors import problem_responses
from service.registry import ModelNotFoundError, ReloadFailedError
from service.routes.deps import Registry
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    operation_id="reloadModel",
    summary="Serve what MODEL_VERSION names now",
    responses=problem_responses(
        UnauthorizedError, ForbiddenError, ModelNotFoundError, ReloadFailedError
    ),
)
async def reload(registry: Registry) -> ReloadResult:
    previous, current = await run_in_threadpool(registry.reload)
    return ReloadResult(
        previous_version=previous, model_version=current, changed=previous != current
    )
