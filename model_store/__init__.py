"""Versioned, immutable model artifacts with provenance, and aliases that point at them."""

from model_store.errors import (
    ApprovalRequiredError,
    ChecksumMismatchError,
    HistoryTamperedError,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.history import HistoryEntry
from model_store.manifest import ModelManifest
from model_store.store import DEFAULT_ALIAS, CompiledVersion, ModelStore, sha256_of

__all__ = [
    "DEFAULT_ALIAS",
    "ApprovalRequiredError",
    "ChecksumMismatchError",
    "CompiledVersion",
    "HistoryEntry",
    "HistoryTamperedError",
    "ModelManifest",
    "ModelStore",
    "ModelStoreError",
    "VersionNotFoundError",
    "sha256_of",
]
