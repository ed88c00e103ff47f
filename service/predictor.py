"""Loaded models and the one small class that scores with them.

Shaped like an MLServer runtime: `Predictor` wraps one loaded model version and turns a
matrix of validated features into probabilities; `ModelRegistry` loads the served
version once at start-up and keeps a few other versions for requests that name one.
Nothing here knows about HTTP.
"""

import logging
import threading
from collections import OrderedDict
from typing import Final

import numpy as np
import sklearn

from model_store import (
    ChecksumMismatchError,
    IncompatibleModelError,
    LoadedModel,
    ModelStore,
    ModelStoreError,
    VersionNotFoundError,
)
from schemas.api import ModelManifest
from schemas.compiled import ENGINE, default_probability, open_session

log = logging.getLogger("service.models")


class ModelUnavailableError(Exception):
    """No model can answer; the message is safe to show to a caller."""


def serving_engine(manifest: ModelManifest) -> str:
    return ENGINE if manifest.compiled is not None else f"scikit-learn {sklearn.__version__}"


# From this many rows on, a request is scored on all SCORING_THREADS; below, on one thread
# (splitting a few rows across threads costs more than it saves).
BULK_ROWS: Final = 512


class Predictor:
    """Scores customers with one model version: with its compiled form when it has one
    (verified against the pipeline at training time), else with the joblib pipeline,
    which is kept loaded either way as the reference."""

    def __init__(self, loaded: LoadedModel, threads: int = 0) -> None:
        self.reference = loaded.pipeline
        self.manifest: ModelManifest = loaded.manifest
        self.version: str = loaded.version
        self.threshold: float = loaded.threshold
        self.engine = serving_engine(loaded.manifest)
        self._single = self._bulk = None
        if loaded.compiled is not None:
            self._single = open_session(loaded.compiled, threads=1)
            self._bulk = open_session(loaded.compiled, threads=threads)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Probability of default for each row (columns in FEATURE_NAMES order)."""
        if self._single is None:
            return self.reference.predict_proba(rows)[:, 1]
        session = self._bulk if len(rows) >= BULK_ROWS else self._single
        return default_probability(session, rows)


def public_reason(ref: str, error: ModelStoreError) -> str:
    """Why a version cannot serve, in words that reveal no paths or library versions."""
    if isinstance(error, VersionNotFoundError):
        return str(error)
    if isinstance(error, ChecksumMismatchError):
        return f"model {ref!r} failed its integrity check (checksum mismatch) and was refused"
    if isinstance(error, IncompatibleModelError):
        return f"model {ref!r} was saved with another scikit-learn version and was refused"
    return f"model {ref!r} could not be loaded"


class ModelRegistry:
    """The served model plus a small LRU cache of other versions."""

    def __init__(
        self, store: ModelStore, default_ref: str, cache_size: int, threads: int = 0
    ) -> None:
        self.store = store
        self.threads = threads
        self.default_ref = default_ref
        self.cache_size = cache_size
        self.default: Predictor | None = None
        self.not_ready_reason = "the model has not been loaded yet"
        self._others: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def load_default(self) -> None:
        """Load the served version; on failure stay up, not ready, and say why."""
        if not self.store.list():
            self.not_ready_reason = (
                "the model store holds no model versions; train one with `python -m train` "
                "(make run does this on first start)"
            )
            log.warning("not ready: %s", self.not_ready_reason)
            return
        try:
            self.default = Predictor(self.store.load(self.default_ref), self.threads)
        except ModelStoreError as error:
            self.not_ready_reason = public_reason(self.default_ref, error)
            if isinstance(error, VersionNotFoundError):
                self.not_ready_reason += (
                    "; promote a version with `python -m model_store promote <version>`"
                )
            log.error("not ready: %s", error)
            return
        log.info(
            "serving model %s (from %r) with %s",
            self.default.version,
            self.default_ref,
            self.default.engine,
        )

    def reload(self) -> tuple[str | None, str]:
        """Point the served model at what `default_ref` names now (after a promotion).

        The new version is loaded and checked completely before one assignment swaps it in,
        so every request is scored wholly by the old or wholly by the new version, and each
        answer names the version that scored it. On any failure the old version keeps
        serving and the error propagates. Returns (previous version, current version).
        """
        previous = self.default.version if self.default is not None else None
        target = self.store.resolve(self.default_ref)
        if target == previous:
            return previous, target
        predictor = Predictor(self.store.load(target), self.threads)
        self.default = predictor
        log.info("now serving model %s (was %s)", target, previous)
        return previous, target

    def get(self, version: str | None = None) -> Predictor:
        """The predictor for `version`, or the served one when no version is named.

        Raises VersionNotFoundError for unknown versions and ModelUnavailableError when
        the version exists but cannot serve.
        """
        if version is None:
            if self.default is None:
                raise ModelUnavailableError(self.not_ready_reason)
            return self.default
        resolved = self.store.resolve(version)
        if self.default is not None and resolved == self.default.version:
            return self.default
        with self._lock:
            cached = self._others.get(resolved)
            if cached is not None:
                self._others.move_to_end(resolved)
                return cached
            try:
                predictor = Predictor(self.store.load(resolved), self.threads)
            except VersionNotFoundError:
                raise
            except ModelStoreError as error:
                log.error("refused model %s: %s", resolved, error)
                raise ModelUnavailableError(public_reason(resolved, error)) from error
            self._others[resolved] = predictor
            while len(self._others) > self.cache_size:
                self._others.popitem(last=False)
            return predictor
