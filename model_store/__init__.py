"""Versioned, immutable model artifacts with provenance, and aliases that point at them."""

from model_store.errors import (
    ChecksumMismatchError,
    IncompatibleModelError,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.store import DEFAULT_ALIAS, LoadedModel, ModelStore, library_versions, sha256_of

__all__ = [
    "DEFAULT_ALIAS",
    "ChecksumMismatchError",
    "IncompatibleModelError",
    "LoadedModel",
    "ModelStore",
    "ModelStoreError",
    "VersionNotFoundError",
    "library_versions",
    "sha256_of",
]
