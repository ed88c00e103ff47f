"""Dependencies shared by the routes."""

from typing import Annotated

from fastapi import Depends, Query, Request

from service.decisions import DecisionLog, NoDecisionLog
from service.predictor import ModelRegistry


async def get_registry(request: Request) -> ModelRegistry:
    # async on purpose: FastAPI runs a plain-def dependency in the thread pool, a hand-off
    # that cost more than scoring a row.
    return request.app.state.registry


Registry = Annotated[ModelRegistry, Depends(get_registry)]


async def get_decision_log(request: Request) -> DecisionLog | NoDecisionLog:
    return request.app.state.decision_log


Decisions = Annotated[DecisionLog | NoDecisionLog, Depends(get_decision_log)]

VersionQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description=(
            "Score with this stored version id or alias instead of the served one "
            "(404 problem if it is unknown)."
        ),
    ),
]

ExplainQuery = Annotated[
    bool,
    Query(
        description=(
            "Add `reasons` (up to 4 reason codes that raised the risk, largest first) and "
            "`explanation` (base + every reason's exact TreeSHAP contribution = probability) "
            "to each answer. The probability is the same either way."
        ),
    ),
]
