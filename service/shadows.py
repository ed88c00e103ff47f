"""Shadow versions: the SHADOW_MODELS a worker keeps loaded beside the served one, each
scoring every customer the service scores, for the record and never for an answer.

A shadow is a guest. Whatever goes wrong with one (its alias names nothing, its files
fail their checks, its run raises) is logged, counted in
credit_default_shadow_failures_total and shown by /health/ready, and the answer, which
the served version alone makes, is the same bits as without it. Each entry is loaded by
the registry's one load path and followed like MODEL_VERSION: when an alias moves, the
watcher loads what it names now.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from model_store.runtime import Predictor
from model_store.scoring import Scored
from service.metrics import SHADOW_CUSTOMERS, SHADOW_FAILURES

log = logging.getLogger("service.shadows")


@dataclass(slots=True)
class ShadowState:
    """One SHADOW_MODELS entry: what it scores with now, or why it does not."""

    ref: str
    predictor: Predictor | None = None
    problem: str | None = None  # why it cannot shadow now (None while it can)
    refused: str | None = None  # a target that failed to load
    failures: int = 0  # requests it failed to score, since start
    last_failure: str | None = None  # when and how it last failed


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
            try:
                results.append(predictor.score(rows, explain and predictor.explains))
            except Exception as error:  # a shadow must never cost an answer
                state.failures += 1
                state.last_failure = (
                    f"{datetime.now(UTC).isoformat(timespec='seconds')}: {type(error).__name__}"
                )
                SHADOW_FAILURES.labels(state.ref, "score").inc()
                log.error("shadow %s (%s) failed to score: %r", state.ref, predictor.version, error)
                continue
            SHADOW_CUSTOMERS.labels(state.ref).inc(len(rows))
        return results

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
