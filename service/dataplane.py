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
- which other versions score the same customers for the record (SHADOW_MODELS), and
  where: right after the served version on its thread, except a customer scored on the
  event loop while the decision log is writing, whose shadow scores the log's writer
  makes for a whole group (service.shadows); and with a live split (CHALLENGER_SHARE)
  which customers the challenger decides;
- what is observed: once the decisions are on record, the metrics count them and the
  request context carries the version and the number of customers for the access line.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from fastapi.concurrency import run_in_threadpool

from model_store.runtime import Predictor
from schemas.features import CustomerFeatures
from service.context import RequestContext
from service.decided import Decided
from service.decisions import DecisionBatch, DecisionLog
from service.decisions.records import ShadowBatch
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import observe_scored
from service.registry import ModelRegistry
from service.split import challenger_rows


class ExplanationUnavailableError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "explanation-unavailable"
    title = "Explanation unavailable"
    description = "The model version has no explainer; ask without `explain` or use another."


class DataPlane:
    """Scores customers with the right version on the right thread, with the shadows and
    the live split, and puts the decisions on record before anything is answered."""

    def __init__(
        self, registry: ModelRegistry, decisions: DecisionLog, challenger_share: float = 0.0
    ) -> None:
        self.registry = registry
        self.decisions = decisions
        self.challenger_share = challenger_share

    async def score_one(
        self, customer: CustomerFeatures, version: str | None, explain: bool, subject: str
    ) -> Decided:
        """One customer, for `/predict`; `subject` places them in an arm of a live split."""
        predictor = await self._predictor(version)
        rows = np.array([customer.as_row()])
        split = self._splits(version)
        if explain:
            return await run_in_threadpool(
                self._decide, predictor, rows, explain, lambda: [subject], split
            )
        return self._decide(predictor, rows, explain, lambda: [subject], split, on_loop=True)

    async def score_many(
        self,
        rows: np.ndarray,
        version: str | None,
        explain: bool,
        subjects: Callable[[], Sequence[str]],
    ) -> Decided:
        """A batch (one row per customer, FEATURE_NAMES columns), in the thread pool
        whatever its size, for `/predict/batch`; `subjects` gives each customer's subject
        key (asked only with a live split)."""
        predictor = await self._predictor(version)
        return await run_in_threadpool(
            self._decide, predictor, rows, explain, subjects, self._splits(version)
        )

    async def record(self, context: RequestContext, decided: Decided) -> None:
        """Put every decision and shadow score of `decided` on record, in one transaction
        (DecisionLogUnavailableError, a 503, when that fails), then count them and tell the
        access line about them."""
        decided_at = datetime.now(UTC)
        shadows = tuple(
            ShadowBatch.of(shadow.scored, shadow.role, shadow.positions)
            for shadow in decided.shadows
        )
        await self.decisions.record(
            *(
                DecisionBatch.of(
                    part.scored,
                    context.request_id,
                    context.path,
                    context.key_id,
                    decided_at,
                    arm=part.arm,
                    positions=part.positions,
                    shadows=shadows if first else (),
                    pending_shadows=decided.pending_shadows if first else None,
                )
                for first, part in zip((True, False), decided.parts, strict=False)
            )
        )
        for part in decided.parts:
            if len(part.scored) == 1:
                observe_scored(part.scored)
            else:  # a histogram observation per customer: thousands are not for the loop
                await run_in_threadpool(observe_scored, part.scored)
        context.model_version = ",".join(part.scored.version for part in decided.parts)
        context.customers = decided.count

    def _splits(self, version: str | None) -> bool:
        """A live split applies to requests that name no version."""
        return self.challenger_share > 0 and version is None

    async def _predictor(self, version: str | None) -> Predictor:
        if version is None:  # the served version: already in memory
            return self.registry.get()
        # Naming a version reads the store (and may load it): never on the event loop.
        return await run_in_threadpool(self.registry.get, version)

    def _decide(
        self,
        predictor: Predictor,
        rows: np.ndarray,
        explain: bool,
        subjects: Callable[[], Sequence[str]],
        split: bool,
        on_loop: bool = False,
    ) -> Decided:
        """The served (or named) version's scores, each shadow's, and with a live split
        the arms. A challenger that cannot score leaves its customers to the champion.
        The shadows score right after the served version, on the same thread, except
        for a customer scored `on_loop` while the decision log is writing: the log's
        writer scores those, a group at a time (unless a live split needs the
        challenger's scores for the answer)."""
        if explain and not predictor.explains:
            raise ExplanationUnavailableError(
                f"model version {predictor.version} has no explainer (it was trained before "
                "reason codes); ask without `explain`, or score with a newer version"
            )
        scored = predictor.score(rows, explain)  # the answer first
        shadows = self.registry.shadows
        # Shadow scores exist to be recorded: with the log off, only a live split needs one.
        if not shadows or not (split or self.decisions.keeps_records):
            return Decided.unsplit(scored, [])
        if on_loop and not split and self.decisions.writing:
            pending = shadows.submit(rows, decided_by=scored.version)
            return Decided.unsplit(scored, [], pending_shadows=pending)
        others = shadows.score(rows, explain, decided_by=scored.version)
        if not split:
            return Decided.unsplit(scored, others)
        challenger = shadows.challenger
        theirs = next(
            (s for s in others if challenger is not None and s.version == challenger.version),
            None,
        )
        if theirs is None:
            return Decided.unsplit(scored, others, arm="champion")
        others.remove(theirs)
        by_challenger = challenger_rows(subjects(), self.challenger_share)
        return Decided.split(scored, theirs, others, by_challenger)
