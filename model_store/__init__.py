"""Versioned, immutable model artifacts with provenance, and aliases that point at them."""

from model_store.errors import ChecksumMismatchError, ModelStoreError, VersionNotFoundError
from model_store.manifest import ModelManifest
from model_store.store import DEFAULT_ALIAS, CompiledVersion, ModelStore, sha256_of

__all__ = [
    "DEFAULT_ALIAS",
    "ChecksumMismatchError",
    "CompiledVersion",
    "ModelManifest",
    "ModelStore",
    "ModelStoreError",
    "VersionNotFoundError",
    "sha256_of",
]
