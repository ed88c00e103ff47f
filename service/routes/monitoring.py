"""GET /metrics (Prometheus text), GET /monitoring/drift, GET /monitoring/performance and
GET /monitoring/challengers: for operations and model owners, behind the `metrics` scope
when keys are configured."""

import contextlib
import time
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from schemas.api import ChallengerReport, DriftReport, PerformanceReport
from service.challengers import compare_challengers
from service.decisions import DecisionLogDisabledError
from service.errors import problem_responses
from service.metrics import exposition
from service.monitoring import DriftUnavailableError, measure_drift
from service.performance import PerformanceUnavailableError, measure_performance
from service.registry import ModelNotFoundError, ModelUnavailableError
from service.routes.deps import Decisions, Registry, Settings, SinceQuery, UntilQuery
from service.security import ForbiddenError, UnauthorizedError

router = APIRouter(tags=["monitoring"])

# /metrics refreshes the PSI gauges at most this often per worker: drift moves slowly,
# and a scrape should not cost a query over the whole window every time.
DRIFT_REFRESH_SECONDS: Final = 30.0


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics of every worker",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4."},
        **problem_responses(UnauthorizedError, ForbiddenError),
    },
)
async def metrics(
    request: Request, registry: Registry, decisions: Decisions, settings: Settings
) -> Response:
    """Requests, latency, customers scored, probabilities, model loads, the decision log's
    writes and the PSI of each input and of the score (refreshed every 30 s at most)."""
    state = request.app.state
    if time.monotonic() - getattr(state, "drift_measured_at", -DRIFT_REFRESH_SECONDS) >= (
        DRIFT_REFRESH_SECONDS
    ):
        state.drift_measured_at = time.monotonic()
        if registry.default is not None:
            with contextlib.suppress(DriftUnavailableError):  # no gauge until there is data
                await run_in_threadpool(
                    measure_drift, decisions, registry.default.manifest, settings.drift_window
                )
    body, content_type = await run_in_threadpool(exposition)
    return Response(body, media_type=content_type)


@router.get(
    "/monitoring/drift",
    operation_id="getDrift",
    summary="Population stability of the inputs and the score",
    responses=problem_responses(
        UnauthorizedError, ForbiddenError, DriftUnavailableError, ModelUnavailableError
    ),
)
async def drift(registry: Registry, decisions: Decisions, settings: Settings) -> DriftReport:
    """PSI of each input and of the score over the latest DRIFT_WINDOW decisions of the
    serving model, against the distributions it was trained on: below 0.1 stable, 0.1 to
    0.25 watch, above 0.25 act. Both distributions come with it, for plotting."""
    if registry.default is None:
        raise ModelUnavailableError(f"not ready: {registry.not_ready_reason}")
    return await run_in_threadpool(
        measure_drift, decisions, registry.default.manifest, settings.drift_window
    )


@router.get(
    "/monitoring/performance",
    operation_id="getPerformance",
    summary="Realized performance, once outcomes arrive",
    responses=problem_responses(
        UnauthorizedError,
        ForbiddenError,
        ModelNotFoundError,
        PerformanceUnavailableError,
        ModelUnavailableError,
    ),
)
async def performance(
    registry: Registry,
    decisions: Decisions,
    model_version: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="A version or alias; the served one."),
    ] = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> PerformanceReport:
    """The decisions of a version that have outcomes (POST /outcomes), on the
    probabilities answered: ROC AUC, Gini, KS, Brier, log loss and ECE, the change of
    ROC AUC since training, a Jeffreys test per grade with a traffic light, the figures by
    month, and, over every decision of the window, the default rate and ROC AUC expected
    if the probabilities are calibrated (labelled as an estimate)."""
    if model_version is None:
        if registry.default is None:
            raise ModelUnavailableError(f"not ready: {registry.not_ready_reason}")
        manifest = registry.default.manifest
    else:
        manifest = await run_in_threadpool(registry.manifest, model_version)
    return await run_in_threadpool(measure_performance, decisions, manifest, since, until)


@router.get(
    "/monitoring/challengers",
    operation_id="getChallengers",
    summary="Champion against challengers, on the same customers",
    responses=problem_responses(UnauthorizedError, ForbiddenError, DecisionLogDisabledError),
)
async def challengers(
    decisions: Decisions, since: SinceQuery = None, until: UntilQuery = None
) -> ChallengerReport:
    """For each version that scored the champion's customers in shadow (SHADOW_MODELS) or
    decided some of them (CHALLENGER_SHARE): agreement, the swap set, the PSI and Spearman
    correlation of the two probabilities and, where outcomes exist, each cell's default
    rate and both versions' ROC AUC, Gini, KS and Brier on the same customers, with
    DeLong's test of the AUC difference."""
    return await run_in_threadpool(compare_challengers, decisions, since, until)
