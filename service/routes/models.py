"""GET /models, GET /models/history and GET /models/{version}: what is stored, what is
served, and who promoted what."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from model_store import HistoryTamperedError, ModelStoreError
from model_store.runtime import ENGINE
from schemas.api import ModelDetails, ModelList, ModelSummary, PromotionHistory
from service.errors import PROBLEM_PREFIX, ServiceError, problem_responses
from service.registry import ModelNotFoundError, ModelUnavailableError, public_reason
from service.routes.deps import Registry
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(tags=["models"])


class ReportNotFoundError(ServiceError):
    status = 404
    type = PROBLEM_PREFIX + "report-not-found"
    title = "Model report not found"
    description = "The version was trained before model reports, or was exported without it."


class PromotionHistoryTamperedError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "history-tampered"
    title = "Promotion history failed its check"
    description = (
        "The promotion history's hash chain is broken (an entry edited, removed or cut off): "
        "it is not shown, and no promotion is accepted until an operator repairs it."
    )

    @classmethod
    def of(cls, error: HistoryTamperedError) -> "PromotionHistoryTamperedError":
        """The store's finding without its path (`python -m model_store history` has it)."""
        return cls(
            f"The promotion history fails its check: {error.problem}. Nothing is promoted "
            "until an operator repairs it (`python -m model_store history` names the file)."
        )


@router.get(
    "/models",
    operation_id="listModels",
    summary="List stored model versions",
    responses=problem_responses(UnauthorizedError, ForbiddenError),
)
def list_models(registry: Registry) -> ModelList:
    aliases = registry.store.aliases()
    serving = registry.default.version if registry.default else None
    return ModelList(
        serving_version=serving,
        models=[
            ModelSummary(
                version=m.version,
                created_at=m.created_at,
                aliases=[name for name, version in aliases.items() if version == m.version],
                serving=m.version == serving,
                quick=m.quick,
                threshold=m.threshold.value,
                metrics=m.metrics,
            )
            for m in registry.store.list()
        ],
    )


@router.get(
    "/models/history",
    operation_id="getPromotionHistory",
    summary="Who promoted, approved and rolled back what, and why",
    responses=problem_responses(UnauthorizedError, ForbiddenError, PromotionHistoryTamperedError),
)
async def promotion_history(registry: Registry) -> PromotionHistory:
    """The store's append-only promotion history, oldest first: actor, time, alias, from
    and to versions, reason, the report's SHA-256 and the challenger comparison at that
    moment. Its hash chain is checked first; an edited or truncated history is a 409."""
    try:
        entries = await run_in_threadpool(registry.store.history)
    except HistoryTamperedError as error:
        raise PromotionHistoryTamperedError.of(error) from error
    return PromotionHistory(entries=entries, head=entries[-1].hash if entries else None)


@router.get(
    "/models/{version}",
    operation_id="getModel",
    summary="One version's manifest",
    responses=problem_responses(UnauthorizedError, ForbiddenError, ModelNotFoundError),
)
def get_model(version: str, registry: Registry) -> ModelDetails:
    """Provenance, hyperparameters, CV results and held-out metrics of a version (an alias
    such as `production` is resolved), and the engine that scores it here."""
    manifest = registry.manifest(version)
    return ModelDetails(**dict(manifest), serving_engine=ENGINE)


@router.get(
    "/models/{version}/report",
    operation_id="getModelReport",
    summary="One version's model report (HTML)",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "A self-contained HTML page."},
        **problem_responses(
            UnauthorizedError,
            ForbiddenError,
            ModelNotFoundError,
            ReportNotFoundError,
            ModelUnavailableError,
        ),
    },
)
async def get_model_report(version: str, registry: Registry) -> HTMLResponse:
    """The validators' report written when the version was trained (checked against the
    manifest's SHA-256): metrics beside the original forest, ROC and precision-recall,
    reliability, score distributions, the threshold, importance per reason code and
    metrics by sex, marital status and age band. It loads nothing from anywhere."""
    manifest = await run_in_threadpool(registry.manifest, version)
    if manifest.report is None:
        raise ReportNotFoundError(f"model version {manifest.version} has no report")
    try:
        page = await run_in_threadpool(registry.store.read_artifact, manifest, manifest.report.file)
    except ModelStoreError as error:  # changed or lost since it was saved
        raise ModelUnavailableError(public_reason(manifest.version, error)) from error
    return HTMLResponse(page)
