"""A directory of immutable, versioned model artifacts with movable aliases.

Layout under the store root:

    <version>/model.joblib      the fitted scikit-learn pipeline (training tools and audit only)
    <version>/model.onnx        the same pipeline compiled for onnxruntime: what serves
    <version>/explainer.npz     the forest as plain arrays, for exact TreeSHAP reason codes
    <version>/report.html       the self-contained model report for validators
    <version>/manifest.json     provenance, metrics and the SHA-256 of every artifact
    aliases/<name>.json         {"version": ..., "history": [...]} e.g. aliases/production.json
    .staging-*/                 versions being written; never listed, never loaded

A version becomes visible in one `rename` of a complete staging directory, so readers
never see half a version, and `rename` onto an existing (non-empty) directory fails, so a
version is never overwritten. Aliases are switched with `os.replace`, which is atomic.

The store handles bytes and manifests only: it never unpickles anything, so reading a
version needs neither scikit-learn nor joblib and cannot run code planted in the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from model_store.errors import ChecksumMismatchError, ModelStoreError, VersionNotFoundError
from model_store.manifest import ModelManifest

MODEL_FILE: Final = "model.joblib"
COMPILED_FILE: Final = "model.onnx"
EXPLAINER_FILE: Final = "explainer.npz"
REPORT_FILE: Final = "report.html"
MANIFEST_FILE: Final = "manifest.json"
ALIASES_DIR: Final = "aliases"
STAGING_PREFIX: Final = ".staging-"
DEFAULT_ALIAS: Final = "production"

# 20261130T021500123456Z-3fa2c1: UTC time to the microsecond, then randomness so that two
# trainings finishing in the same microsecond still get distinct ids. Sorts by time.
VERSION_PATTERN: Final = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")
ALIAS_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def new_version_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class CompiledVersion:
    """What serving needs of a version, every byte checked against the manifest."""

    manifest: ModelManifest
    compiled: bytes
    explainer: bytes | None = None

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def threshold(self) -> float:
        return self.manifest.threshold.value


class ModelStore:
    """Saves, lists, promotes and loads model versions under one directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- writing ---------------------------------------------------------------------------

    def save(
        self,
        artifacts: dict[str, bytes],
        build_manifest: Callable[[str, dict[str, str]], ModelManifest],
    ) -> ModelManifest:
        """Write `artifacts` (file name -> bytes) as a new version; return its manifest.

        `build_manifest(version, checksums)` is called once the files are written, with
        the SHA-256 of each file by name, so that the manifest records the id and
        checksums of exactly what is on disk.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
        staging.mkdir()
        try:
            for name, data in artifacts.items():
                _write_durably(staging / name, data)
            checksums = {name: sha256_of(staging / name) for name in artifacts}
            while True:
                version = new_version_id()
                manifest = build_manifest(version, checksums)
                if manifest.version != version or manifest.artifact_checksums() != checksums:
                    raise ModelStoreError(
                        "the manifest must record the version id and checksums it was given"
                    )
                _write_durably(staging / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
                for path in staging.iterdir():
                    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                _fsync_dir(staging)
                try:
                    # Fails if the target exists and is not empty: never overwrites.
                    os.rename(staging, self.root / version)
                except OSError:
                    if (self.root / version).exists():
                        (staging / MANIFEST_FILE).chmod(stat.S_IRUSR | stat.S_IWUSR)
                        continue  # same id drawn twice: draw again
                    raise
                _fsync_dir(self.root)
                return manifest
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def remove_stale_staging(self) -> list[str]:
        """Delete staging directories left by crashed writers; returns their names.

        Only call this when no training is running: a live writer's staging directory
        looks the same as a dead one's.
        """
        removed = []
        for path in self.root.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        return removed

    # -- reading ---------------------------------------------------------------------------

    def list(self) -> list[ModelManifest]:
        """Every complete version, newest first."""
        if not self.root.is_dir():
            return []
        versions = sorted(
            (p.name for p in self.root.iterdir() if VERSION_PATTERN.match(p.name)), reverse=True
        )
        return [self.get(version) for version in versions]

    def latest(self) -> str | None:
        versions = self.list()
        return versions[0].version if versions else None

    def get(self, version: str) -> ModelManifest:
        """The manifest of one version (an alias name is resolved first)."""
        version = self.resolve(version)
        return ModelManifest.model_validate_json((self.root / version / MANIFEST_FILE).read_bytes())

    def resolve(self, ref: str) -> str:
        """Turn a version id or an alias name into an existing version id."""
        if VERSION_PATTERN.match(ref):
            if (self.root / ref / MANIFEST_FILE).is_file():
                return ref
            raise VersionNotFoundError(f"model version {ref!r} is not in the store")
        if ALIAS_PATTERN.match(ref):
            alias = self._read_alias(ref)
            if alias is None:
                raise VersionNotFoundError(f"alias {ref!r} is not set")
            return self.resolve(alias["version"])
        raise VersionNotFoundError(f"{ref!r} is neither a version id nor an alias name")

    def aliases(self) -> dict[str, str]:
        """Alias name -> version id."""
        directory = self.root / ALIASES_DIR
        if not directory.is_dir():
            return {}
        result = {}
        for path in sorted(directory.glob("*.json")):
            alias = self._read_alias(path.stem)
            if alias is not None:
                result[path.stem] = alias["version"]
        return result

    def load(self, ref: str = DEFAULT_ALIAS) -> CompiledVersion:
        """The manifest and compiled model of a version (or of the version an alias names),
        and explainer (if it has one), refused if a file's SHA-256 differs from the
        manifest's."""
        manifest = self.get(ref)
        explainer = manifest.explainer
        return CompiledVersion(
            manifest,
            self.read_artifact(manifest, manifest.compiled.file),
            None if explainer is None else self.read_artifact(manifest, explainer.file),
        )

    def read_artifact(self, manifest: ModelManifest, file_name: str) -> bytes:
        """One artifact's bytes, refused unless they hash to what the manifest recorded."""
        expected = manifest.artifact_checksums().get(file_name)
        if expected is None:
            raise ModelStoreError(f"model version {manifest.version} has no artifact {file_name}")
        data = (self.root / manifest.version / file_name).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ChecksumMismatchError(
                f"model version {manifest.version}: {file_name} has SHA-256 {actual[:12]}..., "
                f"the manifest records {expected[:12]}...; the file was changed or "
                "corrupted after it was saved and will not be loaded"
            )
        return data

    def export(
        self, ref: str, target: Path | str, alias: str = DEFAULT_ALIAS, serving_only: bool = False
    ) -> str:
        """Copy one version (checked first) into another store and point `alias` at it
        there: how a version is baked into a container image. With `serving_only`, the
        copy holds the manifest and the serving files alone (the pickle stays behind)."""
        manifest = self.get(ref)
        version = manifest.version
        for file_name in manifest.artifact_checksums():  # refuse to ship a corrupted version
            self.read_artifact(manifest, file_name)
        destination = ModelStore(target)
        destination.root.mkdir(parents=True, exist_ok=True)
        if not (destination.root / version).exists():
            staging = destination.root / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
            if serving_only:
                staging.mkdir()
                for name in (MANIFEST_FILE, *manifest.serving_files()):
                    shutil.copy2(self.root / version / name, staging / name)
            else:
                shutil.copytree(self.root / version, staging)
            os.rename(staging, destination.root / version)
        destination.promote(version, alias)
        return version

    # -- aliases ---------------------------------------------------------------------------

    def promote(self, version: str, alias: str = DEFAULT_ALIAS) -> str:
        """Point `alias` at `version` atomically; the previous target is kept for rollback."""
        version = self.resolve(version)
        with self._alias_lock():
            current = self._read_alias(alias)
            history = []
            if current is not None and current["version"] != version:
                history = [current["version"], *current.get("history", [])]
            elif current is not None:
                history = current.get("history", [])
            self._write_alias(alias, version, history)
        return version

    def rollback(self, alias: str = DEFAULT_ALIAS) -> str:
        """Point `alias` back at the version it named before the last promotion."""
        with self._alias_lock():
            current = self._read_alias(alias)
            if current is None or not current.get("history"):
                raise ModelStoreError(f"alias {alias!r} has no earlier version to roll back to")
            previous, *older = current["history"]
            self.resolve(previous)
            self._write_alias(alias, previous, older)
        return previous

    def _read_alias(self, alias: str) -> dict[str, Any] | None:
        if not ALIAS_PATTERN.match(alias):
            raise ModelStoreError(f"invalid alias name {alias!r}")
        path = self.root / ALIASES_DIR / f"{alias}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def _write_alias(self, alias: str, version: str, history: list[str]) -> None:
        directory = self.root / ALIASES_DIR
        directory.mkdir(parents=True, exist_ok=True)
        record = {
            "version": version,
            "promoted_at": datetime.now(UTC).isoformat(),
            "history": history,
        }
        temporary = directory / f".{alias}.{secrets.token_hex(4)}.tmp"
        _write_durably(temporary, json.dumps(record, indent=2).encode())
        os.replace(temporary, directory / f"{alias}.json")
        _fsync_dir(directory)

    @contextlib.contextmanager
    def _alias_lock(self) -> Iterator[None]:
        """Serialise promotions so that concurrent promotes cannot lose history."""
        directory = self.root / ALIASES_DIR
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
