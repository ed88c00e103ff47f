"""POST /outcomes: what happened after each decision, for the `outcomes` scope.

All or nothing: an item that names no recorded decision (422), or that would replace a
different outcome without saying it is a correction (409), refuses the whole call, and
the problem names every item refused with the rule it broke.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from schemas.api import FieldError, OutcomesRecorded, OutcomesRequest
from service.body import MalformedBodyError, body_openapi, json_body
from service.context import Context
from service.decisions import (
    DecisionLogDisabledError,
    DecisionLogUnavailableError,
    DecisionStoreError,
)
from service.decisions.outcomes import Refusal
from service.errors import PROBLEM_PREFIX, ServiceError, ValidationFailedError, problem_responses
from service.middleware.limits import BodyTooLargeError
from service.routes.deps import Decisions
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(tags=["outcomes"])

Outcomes = Annotated[OutcomesRequest, Depends(json_body(OutcomesRequest))]


class OutcomeConflictError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "outcome-conflict"
    title = "A different outcome is on record"
    description = (
        "An item would replace a different outcome already on record without "
        '`"correction": true`; nothing was recorded and `errors` names each item.'
    )


def _errors(refusals: list[Refusal]) -> list[FieldError]:
    return [
        FieldError(field=f"outcomes[{r.index}]", message=r.message, type=r.rule) for r in refusals
    ]


@router.post(
    "/outcomes",
    operation_id="recordOutcomes",
    summary="Record what happened after decisions",
    responses=problem_responses(
        MalformedBodyError,
        UnauthorizedError,
        ForbiddenError,
        OutcomeConflictError,
        DecisionLogDisabledError,
        BodyTooLargeError,
        ValidationFailedError,
        DecisionLogUnavailableError,
    ),
    openapi_extra=body_openapi(OutcomesRequest),
)
async def record_outcomes(
    body: Outcomes, decisions: Decisions, context: Context
) -> OutcomesRecorded:
    """Whether each decided customer defaulted, named by the decision's request id and
    position (0 for /predict). The same outcome sent again counts as `unchanged`; a
    different one needs `"correction": true`, and the one it replaces stays on record."""
    store = decisions.reader()  # DecisionLogDisabledError when no decision is kept
    try:
        applied = await run_in_threadpool(
            store.record_outcomes, body.outcomes, context.key_id, True
        )
    except DecisionStoreError:
        raise DecisionLogUnavailableError(
            "The outcomes could not be recorded now; nothing was recorded. Retry later."
        ) from None
    if applied.refused:
        conflicts_only = all(r.rule == "outcome_conflict" for r in applied.refused)
        count = len(applied.refused)
        detail = f"{count} item{'s' if count != 1 else ''} refused; nothing was recorded."
        error = OutcomeConflictError if conflicts_only else ValidationFailedError
        raise error(detail, errors=_errors(applied.refused))
    return OutcomesRecorded(recorded=applied.recorded, unchanged=applied.unchanged)
