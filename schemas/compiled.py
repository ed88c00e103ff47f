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


def open_session(model: bytes, threads: int = 0) -> onnxruntime.InferenceSession:
    """An onnxruntime session; `threads` = 0 lets onnxruntime use every core, which halves
    a 10,000-row batch on two cores and costs nothing on one row."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


def default_probability(session: onnxruntime.InferenceSession, X: np.ndarray) -> np.ndarray:
    """Probability of default (class 1) for each row of X."""
    features = np.ascontiguousarray(X, dtype=np.float64)
    return session.run([PROBABILITIES], {INPUT_NAME: features})[0][:, 1]
