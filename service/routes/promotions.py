"""POST /models/{version}/promote and /approve: the store's promotions over HTTP (the
`admin` scope), with the caller's key id as the actor.

The same rules as `python -m model_store`: a reason is required, every move is appended to
the hash-chained history, and with PROMOTION_REQUIRES_APPROVAL a promotion needs an
approval by another key first. A promotion also records the champion/challenger
comparison of the decision log at that moment, when the log holds one for that version.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from model_store import (
    ApprovalRequiredError,
    HistoryTamperedError,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.history import HistoryEntry
from schemas.api import PromotionRequest
from service.body import MalformedBodyError, body_openapi, json_body
from service.challengers import compare_challengers
from service.context import Context
from service.decisions import DecisionLogDisabledError
from service.errors import PROBLEM_PREFIX, ServiceError, ValidationFailedError, problem_responses
from service.registry import ModelNotFoundError
from service.routes.deps import Decisions, Registry, Settings
from service.routes.models import PromotionHistoryTamperedError
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(tags=["models"])

Request = Annotated[PromotionRequest, Depends(json_body(PromotionRequest))]


class ActorRequiredError(ServiceError):
    status = 403
    type = PROBLEM_PREFIX + "actor-required"
    title = "Promotion needs an identified caller"
    description = (
        "Promotions are recorded with the caller's API key id as the actor; a service "
        "without API keys cannot say who promoted, so it does not promote over HTTP."
    )


class ApprovalMissingError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "approval-required"
    title = "Approval by someone else required"
    description = (
        "PROMOTION_REQUIRES_APPROVAL is set and no one other than the promoter has approved "
        "this version for this alias since the alias last moved; nothing was changed."
    )


class PromotionRefusedError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "promotion-refused"
    title = "Promotion refused"
    description = "The store refused the move (see `detail`); nothing was changed."


ERRORS = problem_responses(
    MalformedBodyError,
    UnauthorizedError,
    ForbiddenError,
    ActorRequiredError,
    ModelNotFoundError,
    ApprovalMissingError,
    PromotionRefusedError,
    PromotionHistoryTamperedError,
    ValidationFailedError,
)


def _actor(context: Any) -> str:
    if context.key_id is None:
        raise ActorRequiredError(
            "This service runs without API keys, so a promotion would name nobody; use "
            "`python -m model_store promote VERSION --by NAME --reason TEXT`."
        )
    return f"api key {context.key_id}"


def _store_call(call: Any) -> HistoryEntry:
    """The store's answer, or its refusal as the matching problem."""
    try:
        return call()
    except VersionNotFoundError as error:
        raise ModelNotFoundError(error) from error
    except ApprovalRequiredError as error:
        raise ApprovalMissingError(str(error)) from error
    except HistoryTamperedError as error:
        raise PromotionHistoryTamperedError.of(error) from error
    except ModelStoreError as error:
        raise PromotionRefusedError(str(error)) from error


def _comparison(decisions: Any, champion: str | None, version: str) -> dict[str, Any] | None:
    """The decision log's comparison of the alias's current version with `version`,
    without its ROC curves, or None when there is none (or no log)."""
    try:
        report = compare_challengers(decisions, None, None)
    except DecisionLogDisabledError:
        return None
    for comparison in report.comparisons:
        if (comparison.champion_version, comparison.challenger_version) == (champion, version):
            return comparison.model_dump(
                mode="json",
                exclude={"outcomes": {"champion": {"roc_curve"}, "challenger": {"roc_curve"}}},
            )
    return None


@router.post(
    "/models/{version}/promote",
    operation_id="promoteModel",
    summary="Point an alias at a version, on the record",
    responses=ERRORS,
    openapi_extra=body_openapi(PromotionRequest),
)
async def promote(
    version: str,
    body: Request,
    context: Context,
    registry: Registry,
    decisions: Decisions,
    settings: Settings,
) -> HistoryEntry:
    """Appends a `promote` entry (actor: the caller's key id) with the reason, the
    report's SHA-256 and the current champion/challenger comparison, then moves the alias;
    this worker serves the new version at once when the alias is MODEL_VERSION, the others
    within MODEL_WATCH_SECONDS."""
    actor = _actor(context)

    def run() -> HistoryEntry:
        store = registry.store
        target = store.resolve(version)
        current = store.aliases().get(body.alias)
        return store.promote(
            target,
            body.alias,
            by=actor,
            reason=body.reason,
            requires_approval=settings.promotion_requires_approval,
            comparison=_comparison(decisions, current, target),
        )

    entry = await run_in_threadpool(_store_call, run)
    if body.alias == settings.model_version:
        await run_in_threadpool(registry.reload)
    return entry


@router.post(
    "/models/{version}/approve",
    operation_id="approveModel",
    summary="Approve a version for an alias (four eyes)",
    responses=ERRORS,
    openapi_extra=body_openapi(PromotionRequest),
)
async def approve(
    version: str, body: Request, context: Context, registry: Registry
) -> HistoryEntry:
    """Appends an `approve` entry: with PROMOTION_REQUIRES_APPROVAL, what lets a key other
    than this one promote the version to the alias."""
    actor = _actor(context)
    return await run_in_threadpool(
        _store_call,
        lambda: registry.store.approve(version, body.alias, by=actor, reason=body.reason),
    )
