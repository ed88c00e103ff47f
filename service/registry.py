"""The models this process serves: `ModelRegistry` loads the served version once at
start-up (as a `model_store.runtime.Predictor`), swaps it when a promotion moves
MODEL_VERSION, keeps a few other versions for requests that name one, and says why when
none can serve. Nothing here unpickles: a version serves from its checksummed ONNX bytes
and manifest.

Every version reaches memory through `load_version`, the one path that loads, checks,
counts and logs, whether at start-up, on `POST /admin/reload`, from the watcher, for
`?version=` or as a shadow (SHADOW_MODELS, service.shadows).
"""

import asyncio
import logging
import threading
from collections import OrderedDict

from fastapi.concurrency import run_in_threadpool

from model_store import (
    ChecksumMismatchError,
    ModelManifest,
    ModelStore,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.runtime import Predictor
from service.errors import PROBLEM_PREFIX, ServiceError
from service.heap import release_freed_memory
from service.metrics import MODEL_LOADS
from service.shadows import ShadowSet

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


def public_reason(ref: str, error: Exception) -> str:
    """Why a version cannot serve, in words that reveal no paths or library versions."""
    if isinstance(error, VersionNotFoundError):
        return str(error)
    if isinstance(error, ChecksumMismatchError):
        return f"model {ref!r} failed its integrity check (checksum mismatch) and was refused"
    return f"model {ref!r} could not be loaded"


class ModelRegistry:
    """The served model plus a small LRU cache of other versions."""

    def __init__(
        self,
        store: ModelStore,
        default_ref: str,
        cache_size: int,
        threads: int = 0,
        shadow_refs: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.threads = threads
        self.default_ref = default_ref
        self.cache_size = cache_size
        self.default: Predictor | None = None
        self.not_ready_reason = "the model has not been loaded yet"
        self._others: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()
        self.shadows = ShadowSet(shadow_refs, self.load_version, store.resolve, public_reason)

    @property
    def serving_version(self) -> str | None:
        return self.default.version if self.default is not None else None

    def load_version(self, version: str) -> Predictor:
        """The one way a version reaches memory: loaded with every byte checked against
        its manifest, counted in credit_default_model_loads_total and logged, whether it
        was loaded or refused. Raises the store's error on refusal."""
        try:
            predictor = Predictor(self.store.load(version), self.threads)
        except ModelStoreError as error:
            MODEL_LOADS.labels("refused").inc()
            log.error("refused model %s: %s", version, error)
            raise
        MODEL_LOADS.labels("loaded").inc()
        log.info("loaded model %s with %s", predictor.version, predictor.engine)
        release_freed_memory()  # the load's temporary copies (about 13 MiB) go back
        return predictor

    def load_default(self) -> None:
        """Load the served version and the shadows; on failure stay up, not ready, and say
        why (a shadow that cannot load never makes the service unready)."""
        self.shadows.refresh()
        if not self.store.list():
            self.not_ready_reason = (
                "the model store holds no model versions; train one with `python -m train` "
                "(make run does this on first start)"
            )
            log.warning("not ready: %s", self.not_ready_reason)
            return
        try:
            self.default = self.load_version(self.default_ref)
        except ModelStoreError as error:
            self.not_ready_reason = public_reason(self.default_ref, error)
            if isinstance(error, VersionNotFoundError):
                self.not_ready_reason += (
                    "; promote a version with `python -m model_store promote <version> "
                    "--by NAME --reason TEXT`"
                )
            return
        log.info("serving model %s (from %r)", self.default.version, self.default_ref)

    def target(self) -> str:
        """The version MODEL_VERSION names now (ModelNotFoundError if it names nothing)."""
        try:
            return self.store.resolve(self.default_ref)
        except VersionNotFoundError as error:
            raise ModelNotFoundError(error) from error
        except ModelStoreError as error:
            raise ReloadFailedError(
                f"{public_reason(self.default_ref, error)}; still serving "
                f"{self.serving_version or 'nothing'}"
            ) from error

    def reload(self) -> tuple[str | None, str]:
        """Serve what `default_ref` names now (after a promotion). Returns (previous
        version, current version)."""
        return self.swap_to(self.target())

    def swap_to(self, target: str) -> tuple[str | None, str]:
        """Serve `target`, loaded and checked completely before one assignment swaps it
        in, so every request is scored wholly by the old or wholly by the new version, and
        each answer names the version that scored it. On any failure the old version
        keeps serving and ReloadFailedError (or ModelNotFoundError) says why."""
        previous = self.serving_version
        if target == previous:
            return previous, target
        try:
            predictor = self.load_version(target)
        except VersionNotFoundError as error:
            raise ModelNotFoundError(error) from error
        except ModelStoreError as error:
            raise ReloadFailedError(
                f"{public_reason(self.default_ref, error)}; still serving {previous or 'nothing'}"
            ) from error
        self.default = predictor
        log.info("now serving model %s (was %s)", target, previous)
        return previous, target

    async def watch(self, every: float) -> None:
        """Hot-swap whenever MODEL_VERSION starts naming another version (a promotion),
        and each shadow whenever its alias moves, checking every `every` seconds until
        cancelled. A target that fails its checks is not tried again until the alias moves
        on."""
        refused: str | None = None
        while True:
            await asyncio.sleep(every)
            if self.shadows:
                await run_in_threadpool(self.shadows.refresh)
            try:
                target = await run_in_threadpool(self.target)
            except ServiceError:
                continue  # alias unset or dangling: keep serving what we have
            if target in (self.serving_version, refused):
                continue
            try:
                await run_in_threadpool(self.swap_to, target)
            except ServiceError as error:
                refused = target
                log.error(
                    "model watch refused %s: %s; still serving %s",
                    target,
                    error,
                    self.serving_version,
                )

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
                predictor = self.load_version(resolved)
            except ModelStoreError as error:
                raise ModelUnavailableError(public_reason(resolved, error)) from error
            self._others[resolved] = predictor
            while len(self._others) > self.cache_size:
                self._others.popitem(last=False)
            return predictor
