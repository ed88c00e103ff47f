"""Scoring with the compiled (ONNX) form of a saved pipeline, shared by train and service.

Training compiles a pipeline and checks the compiled graph against it with these
functions; the service scores with the very same functions, so what was verified is what
serves. The graph takes float64 features in `FEATURE_NAMES` order and returns the
probabilities of both classes.
"""

from typing import Final

import numpy as np
import onnxruntime

INPUT_NAME: Final = "features"
PROBABILITIES: Final = "probabilities"
ENGINE: Final = f"onnxruntime {onnxruntime.__version__}"


def open_session(model: bytes, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime session with `threads` threads (0: one per core).

    Idle threads do not spin: a spinning pool steals the core that the event loop and
    the other requests need (p99 at concurrency 16 rose from 6 to 90 ms with it)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


def default_probability(session: onnxruntime.InferenceSession, X: np.ndarray) -> np.ndarray:
    """Probability of default (class 1) for each row of X."""
    features = np.ascontiguousarray(X, dtype=np.float64)
    return session.run([PROBABILITIES], {INPUT_NAME: features})[0][:, 1]
