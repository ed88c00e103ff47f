"""GET /reasons: the reason-code catalogue, for mapping codes to notice templates."""

from fastapi import APIRouter

from schemas.reasons import MAX_REASONS, REASONS, ReasonCatalogue
from service.errors import problem_responses
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(tags=["reasons"])


@router.get(
    "/reasons",
    operation_id="listReasons",
    summary="The reason-code catalogue",
    responses=problem_responses(UnauthorizedError, ForbiddenError),
)
async def list_reasons() -> ReasonCatalogue:
    """Every reason code `explain=true` can return, its notice text and the model inputs
    it sums. Each model input belongs to exactly one reason; the entry marked
    `adverse_action: false` is reported in `explanation` and never given as a reason."""
    return ReasonCatalogue(reasons=list(REASONS), max_reasons=MAX_REASONS)
