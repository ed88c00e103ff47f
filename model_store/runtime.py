"""Scoring with the compiled (ONNX) form of a model version: the one runtime every path
shares (the service, the file scorer, training's own check of what it compiled).

The graph takes float64 features in `FEATURE_NAMES` order and returns the probabilities
of both classes.

Deterministic by construction: onnxruntime's tree ensemble sums its trees' votes per
thread when a session has several, so a customer's probability would depend on the size
of the request it came in (measured: up to 5.4e-7 apart). Every session here runs on one
thread, which sums in tree order whatever the batch; large requests are cut into slices
scored at the same time on a pool of such runs, which changes no row's result.
"""

import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np
import onnxruntime

from model_store.errors import ModelStoreError
from model_store.explainer import TreeExplainer
from model_store.manifest import ModelManifest
from model_store.scoring import DEFAULT_SCALING, ReasonScores, Scored
from model_store.store import CompiledVersion

log = logging.getLogger("model_store.runtime")

INPUT_NAME: Final = "features"
PROBABILITIES: Final = "probabilities"
# The model inputs as the trees compare them (float32): an output of graphs compiled
# since reason codes arrived, read only when a caller asks for reasons.
MODEL_INPUTS: Final = "engineered"
ENGINE: Final = f"onnxruntime {onnxruntime.__version__}"
Result = TypeVar("Result")

# From this many rows on, a request is cut into slices scored in parallel; below, one run
# on the calling thread (handing a few rows to other threads costs more than it saves).
PARALLEL_FROM_ROWS: Final = 512


def open_session(model: bytes) -> onnxruntime.InferenceSession:
    """A one-thread onnxruntime session whose idle threads never spin (a spinning pool
    steals the core that the event loop and other requests need), and without
    onnxruntime's own memory arena: the arena keeps the peak of the largest run (a
    10,000-row batch) for good, while plain allocations go back to the heap."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


class CompiledModel:
    """Probabilities of default from a compiled model's bytes.

    `threads` slices of a large request are scored at once (0: one per core). The session
    is shared: onnxruntime allows concurrent `run` calls on one session. No close: once a
    replaced model is no longer referenced, its idle pool threads exit with it.
    """

    def __init__(self, model: bytes, threads: int = 0, fallback: bytes | None = None) -> None:
        """`fallback`, the same graph in another form (the ONNX beside an ORT-format
        model, bit-identical at training), opens if `model` cannot."""
        try:
            self.session = open_session(model)
        except Exception as error:  # onnxruntime's errors share no base class of their own
            if fallback is None:
                raise
            log.warning(
                "%s cannot open the model in its ORT format (%s); opening its ONNX form, "
                "which gave the same bits when the version was trained",
                ENGINE,
                error,
            )
            self.session = open_session(fallback)
        self.threads = threads or os.cpu_count() or 1
        self._pool = (
            ThreadPoolExecutor(self.threads, thread_name_prefix="scoring")
            if self.threads > 1
            else None
        )

    def _run(self, X: np.ndarray) -> np.ndarray:
        return self.session.run([PROBABILITIES], {INPUT_NAME: X})[0][:, 1]

    def _run_with_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probabilities, inputs = self.session.run([PROBABILITIES, MODEL_INPUTS], {INPUT_NAME: X})
        return probabilities[:, 1], inputs

    def _sliced(self, run: Callable[[np.ndarray], Result], X: np.ndarray) -> list[Result]:
        """`run` over X, in slices on the pool when X is large; results in row order."""
        features = np.ascontiguousarray(X, dtype=np.float64)
        if self._pool is None or len(features) < PARALLEL_FROM_ROWS:
            return [run(features)]
        size = math.ceil(len(features) / self.threads)
        slices = [features[start : start + size] for start in range(0, len(features), size)]
        return list(self._pool.map(run, slices))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of default (class 1) for each row of X, the same bits for a row
        whatever else is in X."""
        return np.concatenate(self._sliced(self._run, X))

    def predict_with_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same probabilities, and the float32 model inputs the trees compared."""
        parts = self._sliced(self._run_with_inputs, X)
        return np.concatenate([p for p, _ in parts]), np.concatenate([i for _, i in parts])


class NoExplainerError(ModelStoreError):
    """The version has no explainer: it was trained before reason codes."""


@dataclass(frozen=True)
class Explained:
    """Probabilities with each model input's exact TreeSHAP contribution."""

    probabilities: np.ndarray  # rows
    contributions: np.ndarray  # rows x model inputs
    base: float
    model_inputs: list[str]


class Predictor:
    """One model version ready to score: its compiled model, manifest, id and threshold,
    and its explainer when it has one. Shaped like an MLServer runtime: `score` is the one
    call the service and both portfolio engines make."""

    engine: Final = ENGINE

    def __init__(self, loaded: CompiledVersion, threads: int = 0) -> None:
        self.manifest: ModelManifest = loaded.manifest
        self.version: str = loaded.version
        self.threshold: float = loaded.threshold
        self._model = CompiledModel(loaded.compiled, threads, fallback=loaded.onnx)
        described = loaded.manifest.explainer
        self._explainer = (
            None
            if described is None or loaded.explainer is None
            else TreeExplainer(loaded.explainer, len(described.model_inputs), threads)
        )

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Probability of default for each row (columns in FEATURE_NAMES order)."""
        return self._model.predict_proba(rows)

    @property
    def explains(self) -> bool:
        return self._explainer is not None

    def explain(self, rows: np.ndarray) -> Explained:
        """The served probabilities (the same bits as `predict_proba`) and contributions."""
        if self._explainer is None or self.manifest.explainer is None:
            raise NoExplainerError(
                f"model version {self.version} has no explainer: it was trained before reason "
                "codes; train a new version to get reasons"
            )
        probabilities, inputs = self._model.predict_with_inputs(rows)
        return Explained(
            probabilities=probabilities,
            contributions=self._explainer.contributions(inputs),
            base=self._explainer.base,
            model_inputs=self.manifest.explainer.model_inputs,
        )

    def score(self, rows: np.ndarray, explain: bool = False) -> Scored:
        """Rows (FEATURE_NAMES order) scored: probabilities, decisions and, with `explain`,
        each reason's exact contribution and the principal reasons. The probabilities are
        the same bits either way, and for a row whatever else is in `rows`."""
        reasons = None
        if explain:
            explained = self.explain(rows)
            probabilities = explained.probabilities
            reasons = ReasonScores.from_contributions(
                explained.base, explained.contributions, explained.model_inputs
            )
        else:
            probabilities = self.predict_proba(rows)
        return Scored(
            version=self.version,
            threshold=self.threshold,
            inputs=rows,
            probabilities=probabilities,
            reasons=reasons,
            scaling=self.manifest.score_scaling or DEFAULT_SCALING,
            scale=self.manifest.master_scale,
        )
