"""GET /decisions and GET /decisions/{request_id}: the decision log, for audit (the
`audit` scope). Reads run in the thread pool; each page is one indexed query."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from schemas.api import REQUEST_ID_PATTERN, DecisionList, DecisionRecord, FieldError
from service.decisions import DecisionLogDisabledError, DecisionStore
from service.decisions.store import decode_cursor, encode_cursor
from service.errors import PROBLEM_PREFIX, ServiceError, ValidationFailedError, problem_responses
from service.routes.deps import Decisions, SinceQuery, UntilQuery
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(prefix="/decisions", tags=["decisions"])


class DecisionsNotFoundError(ServiceError):
    status = 404
    type = PROBLEM_PREFIX + "decision-not-found"
    title = "No decision on record"
    description = "Nothing was recorded under this request id."


async def get_store(decisions: Decisions) -> DecisionStore:
    return decisions.reader()  # DecisionLogDisabledError when the log is off


Store = Annotated[DecisionStore, Depends(get_store)]
LOOKUP_ERRORS = (UnauthorizedError, ForbiddenError, DecisionLogDisabledError)


@router.get(
    "",
    operation_id="listDecisions",
    summary="Page through the decision log",
    responses=problem_responses(*LOOKUP_ERRORS, ValidationFailedError),
)
async def list_decisions(
    store: Store,
    since: SinceQuery = None,
    until: UntilQuery = None,
    model_version: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this model version.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Records per page.")] = 100,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="`next_cursor` of the previous page."),
    ] = None,
) -> DecisionList:
    """Records in the order they were written, oldest first, `limit` at a time."""
    try:
        after_id = decode_cursor(cursor) if cursor is not None else 0
    except ValueError as error:
        raise ValidationFailedError(
            "The cursor is not one this API returned.",
            [FieldError(field="cursor", message=str(error), type="cursor")],
        ) from None
    records, next_id = await run_in_threadpool(
        store.page, since, until, model_version, limit, after_id
    )
    return DecisionList.model_validate(
        {
            "decisions": records,
            "next_cursor": encode_cursor(next_id) if next_id is not None else None,
        }
    )


@router.get(
    "/{request_id}",
    operation_id="getDecisions",
    summary="The decisions of one request",
    responses=problem_responses(*LOOKUP_ERRORS, DecisionsNotFoundError),
)
async def get_decisions(
    store: Store,
    request_id: Annotated[
        str, Path(pattern=REQUEST_ID_PATTERN, description="The X-Request-ID answered.")
    ],
) -> list[DecisionRecord]:
    """Every customer scored by that request, in request order: one for /predict, all of
    them for a batch."""
    records = await run_in_threadpool(store.by_request, request_id)
    if not records:
        raise DecisionsNotFoundError(f"No decision is recorded under request id {request_id!r}.")
    return [DecisionRecord.model_validate(record) for record in records]
