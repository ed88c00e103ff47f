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

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
import onnxruntime

from model_store.manifest import ModelManifest
from model_store.store import CompiledVersion

INPUT_NAME: Final = "features"
PROBABILITIES: Final = "probabilities"
ENGINE: Final = f"onnxruntime {onnxruntime.__version__}"

# From this many rows on, a request is cut into slices scored in parallel; below, one run
# on the calling thread (handing a few rows to other threads costs more than it saves).
PARALLEL_FROM_ROWS: Final = 512


def open_session(model: bytes) -> onnxruntime.InferenceSession:
    """A one-thread onnxruntime session whose idle threads never spin (a spinning pool
    steals the core that the event loop and other requests need)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


class CompiledModel:
    """Probabilities of default from a compiled model's bytes.

    `threads` slices of a large request are scored at once (0: one per core). The session
    is shared: onnxruntime allows concurrent `run` calls on one session. No close: once a
    replaced model is no longer referenced, its idle pool threads exit with it.
    """

    def __init__(self, model: bytes, threads: int = 0) -> None:
        self.session = open_session(model)
        self.threads = threads or os.cpu_count() or 1
        self._pool = (
            ThreadPoolExecutor(self.threads, thread_name_prefix="scoring")
            if self.threads > 1
            else None
        )

    def _run(self, X: np.ndarray) -> np.ndarray:
        return self.session.run([PROBABILITIES], {INPUT_NAME: X})[0][:, 1]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of default (class 1) for each row of X, the same bits for a row
        whatever else is in X."""
        features = np.ascontiguousarray(X, dtype=np.float64)
        if self._pool is None or len(features) < PARALLEL_FROM_ROWS:
            return self._run(features)
        size = math.ceil(len(features) / self.threads)
        slices = [features[start : start + size] for start in range(0, len(features), size)]
        return np.concatenate(list(self._pool.map(self._run, slices)))


class Predictor:
    """One model version ready to score: its compiled model, manifest, id and threshold.
    Shaped like an MLServer runtime; the service and the file scorer both use it."""

    engine: Final = ENGINE

    def __init__(self, loaded: CompiledVersion, threads: int = 0) -> None:
        self.manifest: ModelManifest = loaded.manifest
        self.version: str = loaded.version
        self.threshold: float = loaded.threshold
        self._model = CompiledModel(loaded.compiled, threads)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Probability of default for each row (columns in FEATURE_NAMES order)."""
        return self._model.predict_proba(rows)
