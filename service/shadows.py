"""Shadow versions: the SHADOW_MODELS a worker keeps loaded beside the served one, each
scoring every customer the service scores, for the record and never for an answer.

A shadow is a guest. Whatever goes wrong with one (its alias names nothing, its files
fail their checks, its run raises) is logged, counted in
credit_default_shadow_failures_total and shown by /health/ready, and the answer, which
the served version alone makes, is the same bits as without it. Each entry is loaded by
the registry's one load path and followed like MODEL_VERSION: when an alias moves, the
watcher loads what it names now.

Where a shadow scores follows where the answer is made: right after the served version,
on the same thread (`score`), whether that is the thread pool (batches, reasons) or the
event loop (one customer, without reasons). Handing a single customer's shadow run to
another thread costs more than the run: measured in process on a 2-core virtual machine,
each pair of runs after an idle wait as at concurrency 1, the two side by side, one on a
woken thread, took 356 us against 328 us one after the other.

Under load, a customer scored on the event loop while the decision log is writing is
queued instead (`submit`), and the writer scores every customer queued by then when it
asks for their records before its transaction, in one run per shadow: a shadow then
costs a group of requests one run, not one run each, and none on the loop.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from model_store.runtime import Predictor
from model_store.scoring import Scored
from service.decisions.records import ShadowBatch
from service.metrics import SHADOW_CUSTOMERS, SHADOW_FAILURES

log = logging.getLogger("service.shadows")

# A single customer's rows, the version deciding them, and where their shadow records go.
_Submitted = tuple[np.ndarray, str, "PendingShadows"]


@dataclass(slots=True)
class ShadowState:
    """One SHADOW_MODELS entry: what it scores with now, or why it does not."""

    ref: str
    predictor: Predictor | None = None
    problem: str | None = None  # why it cannot shadow now (None while it can)
    refused: str | None = None  # a target that failed to load
    failures: int = 0  # requests it failed to score, since start
    last_failure: str | None = None  # when and how it last failed


class PendingShadows:
    """The shadow records of one queued customer, once made. Asking for them before then
    scores the whole queue on the asking thread, unless another already is."""

    __slots__ = ("_done", "_made", "_shadows")

    def __init__(self, shadows: "ShadowSet") -> None:
        self._shadows = shadows
        self._done = threading.Event()
        self._made: tuple[ShadowBatch, ...] = ()

    def resolve(self, made: tuple[ShadowBatch, ...]) -> None:
        self._made = made
        self._done.set()

    def result(self) -> tuple[ShadowBatch, ...]:
        if not self._done.is_set():
            self._shadows.score_queued()
            self._done.wait()
        return self._made


class ShadowSet:
    """The shadow versions of one worker, in SHADOW_MODELS order; the first is the
    challenger of a live split."""

    def __init__(
        self,
        refs: Sequence[str],
        load: Callable[[str], Predictor],
        resolve: Callable[[str], str],
        describe: Callable[[str, Exception], str],
    ) -> None:
        self._states = [ShadowState(ref) for ref in refs]
        self._load = load
        self._resolve = resolve
        self._describe = describe  # a refusal in words safe for /health/ready
        self._lock = threading.Lock()  # one refresh at a time (start-up, watcher)
        # Single customers waiting for their shadow scores (`submit`).
        self._queue: list[_Submitted] = []
        self._queue_lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._states)

    def refresh(self) -> None:
        """Load each entry's current target when it is not the one loaded; never raises.
        Called at start-up and by the model watcher."""
        with self._lock:
            for state in self._states:
                self._refresh(state)

    def _refresh(self, state: ShadowState) -> None:
        # Anything a shadow raises while loading is its own problem, never the watcher's:
        # an unreadable alias file or a model onnxruntime refuses is refused like a
        # failed checksum.
        try:
            target = self._resolve(state.ref)
        except Exception as error:  # alias unset or unreadable: keep what it named
            self._failed(state, None, error)
            return
        if state.predictor is not None and state.predictor.version == target:
            return
        if target == state.refused:  # not tried again until the alias moves on
            return
        try:
            predictor = self._load(target)
        except Exception as error:  # keeps scoring with what it had, if anything
            self._failed(state, target, error)
            return
        previous = state.predictor.version if state.predictor is not None else None
        state.predictor, state.problem, state.refused = predictor, None, None
        log.info("shadow %s now scores with %s (was %s)", state.ref, target, previous)

    def _failed(self, state: ShadowState, target: str | None, error: Exception) -> None:
        problem = f"cannot load: {self._describe(state.ref, error)}"
        if problem != state.problem or target != state.refused:  # once per new problem
            SHADOW_FAILURES.labels(state.ref, "load").inc()
            log.error("shadow %s cannot load: %s", state.ref, error)
        state.problem, state.refused = problem, target

    @property
    def challenger(self) -> Predictor | None:
        """The first entry's version, the challenger of a live split (None when it is not
        loaded)."""
        return self._states[0].predictor if self._states else None

    def score(self, rows: np.ndarray, explain: bool, decided_by: str) -> list[Scored]:
        """Every loaded shadow's scores of `rows` (with reasons where asked for and the
        version has an explainer), skipping one that is the version deciding. A shadow
        that fails is left out, logged and counted; nothing it does reaches the caller."""
        results = []
        for state in self._states:
            predictor = state.predictor
            if predictor is None or predictor.version == decided_by:
                continue
            scored = self._score(state, predictor, rows, explain, requests=1)
            if scored is not None:
                results.append(scored)
        return results

    def submit(self, rows: np.ndarray, decided_by: str) -> "PendingShadows":
        """Every loaded shadow's scores of `rows` (without reasons) as shadow records, once
        made; a shadow that is the version deciding is skipped. They wait in the queue for
        the first thread that asks for a result, which scores everything queued in one run
        per shadow. A failing shadow is left out, logged and counted: the result always
        comes."""
        pending = PendingShadows(self)
        with self._queue_lock:
            self._queue.append((rows, decided_by, pending))
        return pending

    def score_queued(self) -> None:
        """Score every customer queued now, on the calling thread, in one run per shadow
        (a customer another thread has taken is left to it)."""
        with self._queue_lock:
            group, self._queue = self._queue, []
        if group:
            self._score_submitted(group)

    def _score_submitted(self, group: list[_Submitted]) -> None:
        """Each customer's shadow records in `group`, resolved whatever happens."""
        added: list[list[ShadowBatch]] = [[] for _ in group]
        try:
            for state in self._states:
                try:
                    self._score_group(state, group, added)
                except Exception as error:  # past its run: still the shadow's problem
                    self._count_failure(state, error, requests=len(group))
        finally:  # whatever happened, nobody waits for ever
            for (_, _, pending), shadows in zip(group, added, strict=True):
                pending.resolve(tuple(shadows))

    def _score_group(
        self, state: ShadowState, group: list[_Submitted], added: list[list[ShadowBatch]]
    ) -> None:
        predictor = state.predictor
        if predictor is None:
            return
        members = [
            k for k, (_, decided_by, _) in enumerate(group) if decided_by != predictor.version
        ]
        if not members:
            return
        rows = np.concatenate([group[k][0] for k in members])
        scored = self._score(state, predictor, rows, explain=False, requests=len(members))
        if scored is None:
            return
        counts = [len(group[k][0]) for k in members]
        for k, shadow in zip(members, ShadowBatch.split(scored, "shadow", counts), strict=True):
            added[k].append(shadow)

    def _score(
        self,
        state: ShadowState,
        predictor: Predictor,
        rows: np.ndarray,
        explain: bool,
        requests: int,
    ) -> Scored | None:
        """One shadow's scores of `rows` for `requests` requests, or None when it fails:
        then the failure is logged and counted once per request it cost a shadow score.
        Scores its records cannot be made of are a failure too, found here rather than
        where the records are made, with the decisions."""
        try:
            scored = predictor.score(rows, explain and predictor.explains)
            _check_recordable(scored, len(rows))
        except Exception as error:  # a shadow must never cost an answer
            self._count_failure(state, error, requests)
            return None
        SHADOW_CUSTOMERS.labels(state.ref).inc(len(rows))
        return scored

    def _count_failure(self, state: ShadowState, error: Exception, requests: int) -> None:
        """A shadow that could not score `requests` requests: logged, and counted once
        for each of them."""
        state.failures += requests
        state.last_failure = (
            f"{datetime.now(UTC).isoformat(timespec='seconds')}: {type(error).__name__}"
        )
        SHADOW_FAILURES.labels(state.ref, "score").inc(requests)
        version = None if state.predictor is None else state.predictor.version
        log.error("shadow %s (%s) failed to score: %r", state.ref, version, error)

    def status(self) -> list[dict[str, object]]:
        """Each entry's state, for /health/ready."""
        return [
            {
                "ref": state.ref,
                "model_version": None if state.predictor is None else state.predictor.version,
                "shadowing": state.predictor is not None,
                "problem": state.problem,
                "failures": state.failures,
                "last_failure": state.last_failure,
            }
            for state in self._states
        ]


def _check_recordable(scored: Scored, rows: int) -> None:
    """Raise unless `scored` holds one result per row and every value its records are
    made of can be made (each is computed once: the records reuse them)."""
    if not isinstance(scored, Scored):
        raise TypeError(f"a shadow's scores must be a Scored, got a {type(scored).__name__}")
    if len(scored) != rows:
        raise ValueError(f"a shadow scored {len(scored)} rows of {rows}")
    _ = scored.defaults, scored.points, scored.grades
    if scored.reasons is not None:
        _ = scored.reasons.codes
