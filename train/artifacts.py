"""The fitted pipeline as a store artifact: pickled here, and unpickled only here.

The service never reads the pickle (it scores the compiled model), so the scikit-learn
version check guards loading the pipeline for training tools, audit and recompiling:
unpickling across scikit-learn versions can silently change what a pipeline computes.
"""

import io
import platform

import joblib
import numpy as np
import onnxruntime
import pandas as pd
import skl2onnx
import sklearn
from sklearn.pipeline import Pipeline

from model_store import ModelStore, ModelStoreError
from model_store.manifest import LibraryVersions


class IncompatibleModelError(ModelStoreError):
    """The pipeline was pickled by a scikit-learn other than the running one."""


def library_versions() -> LibraryVersions:
    """What trained and compiled a model; recorded in every manifest."""
    return LibraryVersions(
        python=platform.python_version(),
        scikit_learn=sklearn.__version__,
        numpy=np.__version__,
        joblib=joblib.__version__,
        pandas=pd.__version__,
        onnxruntime=onnxruntime.__version__,
        skl2onnx=skl2onnx.__version__,
    )


def pipeline_bytes(pipeline: Pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def load_pipeline(store: ModelStore, ref: str) -> Pipeline:
    """A version's fitted pipeline, after its checksum and scikit-learn version check."""
    manifest = store.get(ref)
    running = sklearn.__version__
    if manifest.libraries.scikit_learn != running:
        raise IncompatibleModelError(
            f"model version {manifest.version} was pickled by scikit-learn "
            f"{manifest.libraries.scikit_learn}, this process runs {running}; use the "
            "scikit-learn pinned in requirements/ (serving is unaffected: it reads the "
            "compiled model)"
        )
    data = store.read_artifact(manifest, manifest.model_file)
    return joblib.load(io.BytesIO(data))
