"""POST /admin/reload: pick up a promotion now, in this worker (protected by the API key).

Every worker also watches the store on its own (MODEL_WATCH_SECONDS), which is how a
promotion reaches all workers; this endpoint makes the worker that receives it switch at
once and say what happened.
"""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from model_store import ModelStoreError, VersionNotFoundError
from schemas.api import ReloadResult
from service.problems import ReloadFailedError, problem_responses
from service.routes.deps import Registry

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResult,
    summary="Serve what MODEL_VERSION names now",
    responses=problem_responses(401, 404, 409),
)
async def reload(registry: Registry) -> ReloadResult:
    try:
        previous, current = await run_in_threadpool(registry.reload)
    except VersionNotFoundError:
        raise
    except ModelStoreError as error:
        serving = registry.default.version if registry.default else None
        raise ReloadFailedError(registry.default_ref, serving, error) from error
    return ReloadResult(
        previous_version=previous, model_version=current, changed=previous != current
    )
