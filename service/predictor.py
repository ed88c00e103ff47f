"""The models this process serves: `ModelRegistry` loads the served version once at
start-up (as a `model_store.runtime.Predictor`) and keeps a few other versions for
requests that name one, and says why when none can serve. Nothing here unpickles: a
version serves from its checksummed ONNX bytes and manifest.
"""

import logging
import threading
from collections import OrderedDict

from model_store import (
    ChecksumMismatchError,
    ModelManifest,
    ModelStore,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.runtime import Predictor
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import MODEL_LOADS

log = logging.getLogger("service.models")


class ModelNotFoundError(ServiceError):
    status = 404
    type = PROBLEM_PREFIX + "model-not-found"
    title = "Model version not found"
    description = "Unknown model version or alias."

    def __init__(self, error: VersionNotFoundError) -> None:
        super().__init__(f"{error}. GET /models lists the stored versions.")


class ModelUnavailableError(ServiceError):
    """No model can answer; the detail is safe to show to a caller."""

    status = 503
    type = PROBLEM_PREFIX + "model-unavailable"
    title = "Model unavailable"
    description = "No model can answer (not loaded, or refused at load); see `detail`."
    retry_after = "30"


class ReloadFailedError(ServiceError):
    """A reload was refused; the version that served before still serves."""

    status = 409
    type = PROBLEM_PREFIX + "reload-failed"
    title = "Reload refused"
    description = "The new model could not be loaded; the previous one keeps serving."


def public_reason(ref: str, error: ModelStoreError) -> str:
    """Why a version cannot serve, in words that reveal no paths or library versions."""
    if isinstance(error, VersionNotFoundError):
        return str(error)
    if isinstance(error, ChecksumMismatchError):
        return f"model {ref!r} failed its integrity check (checksum mismatch) and was refused"
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
            MODEL_LOADS.labels("refused").inc()
            self.not_ready_reason = public_reason(self.default_ref, error)
            if isinstance(error, VersionNotFoundError):
                self.not_ready_reason += (
                    "; promote a version with `python -m model_store promote <version>`"
                )
            log.error("not ready: %s", error)
            return
        MODEL_LOADS.labels("loaded").inc()
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
        serving and ReloadFailedError (or ModelNotFoundError) says why. Returns (previous
        version, current version).
        """
        previous = self.default.version if self.default is not None else None
        try:
            target = self.store.resolve(self.default_ref)
            if target == previous:
                return previous, target
            predictor = Predictor(self.store.load(target), self.threads)
        except VersionNotFoundError as error:
            raise ModelNotFoundError(error) from error
        except ModelStoreError as error:
            MODEL_LOADS.labels("refused").inc()
            raise ReloadFailedError(
                f"{public_reason(self.default_ref, error)}; still serving {previous or 'nothing'}"
            ) from error
        MODEL_LOADS.labels("loaded").inc()
        self.default = predictor
        log.info("now serving model %s (was %s)", target, previous)
        return previous, target

    def manifest(self, ref: str) -> ModelManifest:
        """A stored version's manifest (an alias is resolved), or ModelNotFoundError."""
        try:
            return self.store.get(ref)
        except VersionNotFoundError as error:
            raise ModelNotFoundError(error) from error

    def get(self, version: str | None = None) -> Predictor:
        """The predictor for `version`, or the served one when no version is named.

        Raises ModelNotFoundError for unknown versions and ModelUnavailableError when the
        version exists but cannot serve.
        """
        if version is None:
            if self.default is None:
                raise ModelUnavailableError(self.not_ready_reason)
            return self.default
        try:
            resolved = self.store.resolve(version)
        except VersionNotFoundError as error:
            raise ModelNotFoundError(error) from error
        if self.default is not None and resolved == self.default.version:
            return self.default
        with self._lock:
            cached = self._others.get(resolved)
            if cached is not None:
                self._others.move_to_end(resolved)
                return cached
            try:
                predictor = Predictor(self.store.load(resolved), self.threads)
            except ModelStoreError as error:
                MODEL_LOADS.labels("refused").inc()
                log.error("refused model %s: %s", resolved, error)
                raise ModelUnavailableError(public_reason(resolved, error)) from error
            MODEL_LOADS.labels("loaded").inc()
            self._others[resolved] = predictor
            while len(self._others) > self.cache_size:
                self._others.popitem(last=False)
            return predictor
