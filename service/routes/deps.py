"""Dependencies shared by the routes: the parts `create_app` wired, typed.

Each is async on purpose: FastAPI runs a plain-def dependency in the thread pool, a
hand-off that costs more than scoring a row.
"""

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from pydantic import AwareDatetime

from schemas.api import SUBJECT_ID_PATTERN
from service.dataplane import DataPlane
from service.decisions import DecisionLog
from service.registry import ModelRegistry
from service.settings import ServiceSettings


async def get_plane(request: Request) -> DataPlane:
    return request.app.state.plane


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.plane.registry


async def get_decision_log(request: Request) -> DecisionLog:
    return request.app.state.plane.decisions


async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


Plane = Annotated[DataPlane, Depends(get_plane)]
Registry = Annotated[ModelRegistry, Depends(get_registry)]
Decisions = Annotated[DecisionLog, Depends(get_decision_log)]
Settings = Annotated[ServiceSettings, Depends(get_settings)]

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

SinceQuery = Annotated[
    AwareDatetime | None,
    Query(description="Only decisions at or after this time (ISO 8601, with a zone)."),
]
UntilQuery = Annotated[
    AwareDatetime | None,
    Query(description="Only decisions before this time (ISO 8601, with a zone)."),
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

SubjectHeader = Annotated[
    str | None,
    Header(
        alias="X-Subject-ID",
        pattern=SUBJECT_ID_PATTERN,
        description=(
            "The customer's subject key (e.g. the account number), read only with a live "
            "split (CHALLENGER_SHARE): its hash keeps the customer in one arm on every "
            "request. Without it the request id is used. Never recorded."
        ),
    ),
]
