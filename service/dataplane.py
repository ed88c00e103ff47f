"""The data plane: everything between a checked request body and the model, for the
scoring routes, in the role Seldon MLServer's data plane plays between its endpoints and
its runtimes.

A scoring route reads: checked body, `score`, `record`, answer. The data plane decides
what the route should not have to:
- which version scores (the served one, or the one `?version=` names, via the registry);
- on which thread: one customer without reasons is scored on the event loop (the
  compiled forest answers in tens of microseconds, less than a hand-off to the thread
  pool costs); anything larger or with reasons runs in the pool, so a long batch never
  stalls the other requests, the in-flight bound or the time limit;
- what is observed: once the decisions are on record, the metrics count them and the
  request context carries the version and the number of customers for the access line.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from fastapi.concurrency import run_in_threadpool

from model_store.runtime import Predictor
from model_store.scoring import Scored
from schemas.features import CustomerFeatures, feature_matrix
from service.context import RequestContext
from service.decisions import DecisionBatch, DecisionLog
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import observe_scored
from service.registry import ModelRegistry


class ExplanationUnavailableError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "explanation-unavailable"
    title = "Explanation unavailable"
    description = "The model version has no explainer; ask without `explain` or use another."


class DataPlane:
    """Scores customers with the right version on the right thread, and puts the
    decisions on record before anything is answered."""

    def __init__(self, registry: ModelRegistry, decisions: DecisionLog) -> None:
        self.registry = registry
        self.decisions = decisions

    async def score_one(
        self, customer: CustomerFeatures, version: str | None, explain: bool
    ) -> Scored:
        """One customer, for `/predict`."""
        predictor = await self._predictor(version)
        rows = np.array([customer.as_row()])
        if explain:
            return await run_in_threadpool(_score, predictor, rows, explain)
        return _score(predictor, rows, explain)

    async def score_many(
        self, customers: Sequence[CustomerFeatures], version: str | None, explain: bool
    ) -> Scored:
        """A batch, in the thread pool whatever its size, for `/predict/batch`."""
        predictor = await self._predictor(version)
        return await run_in_threadpool(_score_customers, predictor, customers, explain)

    async def record(self, context: RequestContext, scored: Scored) -> None:
        """Put every decision of `scored` on record (DecisionLogUnavailableError, a 503,
        when that fails), then count them and tell the access line about them."""
        await self.decisions.record(
            DecisionBatch.of(
                scored, context.request_id, context.path, context.key_id, datetime.now(UTC)
            )
        )
        if len(scored) == 1:
            observe_scored(scored)
        else:  # a histogram observation per customer: thousands are not for the event loop
            await run_in_threadpool(observe_scored, scored)
        context.model_version = scored.version
        context.customers = len(scored)

    async def _predictor(self, version: str | None) -> Predictor:
        if version is None:  # the served version: already in memory
            return self.registry.get()
        # Naming a version reads the store (and may load it): never on the event loop.
        return await run_in_threadpool(self.registry.get, version)


def _score(predictor: Predictor, rows: np.ndarray, explain: bool) -> Scored:
    if explain and not predictor.explains:
        raise ExplanationUnavailableError(
            f"model version {predictor.version} has no explainer (it was trained before "
            "reason codes); ask without `explain`, or score with a newer version"
        )
    return predictor.score(rows, explain)


def _score_customers(
    predictor: Predictor, customers: Sequence[CustomerFeatures], explain: bool
) -> Scored:
    return _score(predictor, feature_matrix(customers), explain)
