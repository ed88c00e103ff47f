"""A directory of immutable, versioned model artifacts with movable aliases.

Layout under the store root:

    <version>/model.joblib      the fitted scikit-learn pipeline (training tools and audit only)
    <version>/model.onnx        the same pipeline compiled for onnxruntime
    <version>/model.ort         that graph in onnxruntime's own format: what serves (half
                                the memory; versions trained before it serve model.onnx)
    <version>/explainer.npz     the forest as plain arrays, for exact TreeSHAP reason codes
    <version>/report.html       the self-contained model report for validators
    <version>/manifest.json     provenance, metrics and the SHA-256 of every artifact
    aliases/<name>.json         {"version": ..., "history": [...], "entry_hash": ...}
                                e.g. aliases/production.json
    history/entries.jsonl       every promotion, approval and rollback: who, when, why,
    history/head.json           hash-chained (model_store/history.py)
    .staging-*/                 versions being written; never listed, never loaded

A version becomes visible in one `rename` of a complete staging directory, so readers
never see half a version, and `rename` onto an existing (non-empty) directory fails, so a
version is never overwritten. Aliases are switched with `os.replace`, which is atomic,
and only after the move is on the record in the promotion history.

The store handles bytes and manifests only: it never unpickles anything, so reading a
version needs neither scikit-learn nor joblib and cannot run code planted in the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
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

from model_store.durable import fsync_dir, replace_durably, write_durably
from model_store.errors import (
    ApprovalRequiredError,
    ChecksumMismatchError,
    ModelStoreError,
    VersionNotFoundError,
)
from model_store.history import Action, HistoryEntry, PromotionHistory
from model_store.manifest import ModelManifest

MODEL_FILE: Final = "model.joblib"
COMPILED_FILE: Final = "model.onnx"
ORT_FILE: Final = "model.ort"
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
# Names that match ALIAS_PATTERN but can never be aliases: /models/history is kept for the
# promotion history's route, so an alias called that could not be looked up as /models/{ref}.
RESERVED_NAMES: Final = frozenset({"history"})


def new_version_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def os_user() -> str:
    """The operating-system user running this process, or "unknown"."""
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (some containers)
        return "unknown"


def _required(**texts: str) -> list[str]:
    """Each text stripped; refused if one is empty (every move names its actor and reason)."""
    stripped = []
    for name, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise ModelStoreError(f"{name} is missing: say who does this and why (--by, --reason)")
        stripped.append(text.strip())
    return stripped


def _same_actor(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True)
class CompiledVersion:
    """What serving needs of a version, every byte checked against the manifest."""

    manifest: ModelManifest
    compiled: bytes  # the form that serves: onnxruntime's own format where there is one
    explainer: bytes | None = None
    # The same graph as ONNX, beside an ORT-format `compiled`: what opens should this
    # onnxruntime not read the other (its format has changed between releases before).
    onnx: bytes | None = None

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
        self._history = PromotionHistory(self.root)

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
                write_durably(staging / name, data)
            checksums = {name: sha256_of(staging / name) for name in artifacts}
            while True:
                version = new_version_id()
                manifest = build_manifest(version, checksums)
                if manifest.version != version or manifest.artifact_checksums() != checksums:
                    raise ModelStoreError(
                        "the manifest must record the version id and checksums it was given"
                    )
                write_durably(staging / MANIFEST_FILE, manifest.model_dump_json(indent=2).encode())
                for path in staging.iterdir():
                    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                fsync_dir(staging)
                try:
                    # Fails if the target exists and is not empty: never overwrites.
                    os.rename(staging, self.root / version)
                except OSError:
                    if (self.root / version).exists():
                        (staging / MANIFEST_FILE).chmod(stat.S_IRUSR | stat.S_IWUSR)
                        continue  # same id drawn twice: draw again
                    raise
                fsync_dir(self.root)
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
        if ref in RESERVED_NAMES:
            raise VersionNotFoundError(f"{ref!r} is a reserved name, never an alias")
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
            if path.stem in RESERVED_NAMES:
                continue
            alias = self._read_alias(path.stem)
            if alias is not None:
                result[path.stem] = alias["version"]
        return result

    def load(self, ref: str = DEFAULT_ALIAS) -> CompiledVersion:
        """The manifest and compiled model of a version (or of the version an alias names),
        its explainer (if it has one), and the ONNX form beside an ORT-format model;
        refused if a file's SHA-256 differs from the manifest's."""
        manifest = self.get(ref)
        explainer = manifest.explainer
        compiled = manifest.compiled
        return CompiledVersion(
            manifest,
            self.read_artifact(manifest, compiled.served_file),
            None if explainer is None else self.read_artifact(manifest, explainer.file),
            None if compiled.ort is None else self.read_artifact(manifest, compiled.file),
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
        copied = "serving files only" if serving_only else "all files"
        destination.promote(
            version, alias, by=os_user(), reason=f"exported from {self.root} ({copied})"
        )
        return version

    # -- aliases and their history -------------------------------------------------------

    def promote(
        self,
        version: str,
        alias: str = DEFAULT_ALIAS,
        *,
        by: str,
        reason: str,
        requires_approval: bool = False,
        comparison: dict[str, Any] | None = None,
    ) -> HistoryEntry:
        """Point `alias` at `version` atomically, on the record; the previous target is
        kept for rollback. Returns the history entry.

        With `requires_approval` (four eyes) it is refused, changing nothing, unless
        someone other than `by` approved this version for this alias since the alias last
        changed. `comparison` (a JSON object: say the champion against the challenger) is
        recorded with the entry. Promoting the version the alias already names records
        nothing and returns the entry that set it (an alias set before there was a
        history gets an entry, from and to that version, so that it is on the record).
        """
        by, reason = _required(by=by, reason=reason)
        version = self.resolve(version)
        with self._alias_lock():
            current = self._read_alias(alias)
            entries = self._history.read()
            if current is not None and current["version"] == version:
                last = self._last_change(entries, alias)
                if last is not None and last.to_version == version:
                    return last
            elif requires_approval:
                self._check_approval(entries, version, alias, by)
            history: list[str] = []
            if current is not None and current["version"] != version:
                history = [current["version"], *current.get("history", [])]
            elif current is not None:
                history = current.get("history", [])
            return self._move_alias(
                "promote", alias, current, version, history, by, reason, comparison
            )

    def approve(
        self, version: str, alias: str = DEFAULT_ALIAS, *, by: str, reason: str
    ) -> HistoryEntry:
        """Record that `by` approves pointing `alias` at `version`: what a promotion that
        requires approval needs from someone other than its promoter. Moves nothing."""
        by, reason = _required(by=by, reason=reason)
        version = self.resolve(version)
        with self._alias_lock():
            current = self._read_alias(alias)
            if current is not None and current["version"] == version:
                raise ModelStoreError(
                    f"alias {alias!r} already names {version}: there is nothing to approve"
                )
            return self._append("approve", alias, current, version, by, reason, None)

    def rollback(self, alias: str = DEFAULT_ALIAS, *, by: str, reason: str) -> HistoryEntry:
        """Point `alias` back at the version it named before the last promotion, on the
        record. No approval is asked even where promotions need one: a rollback returns
        to a version that already served (and was approved then, if that was required),
        and it is what an incident needs at once."""
        by, reason = _required(by=by, reason=reason)
        with self._alias_lock():
            current = self._read_alias(alias)
            if current is None or not current.get("history"):
                raise ModelStoreError(f"alias {alias!r} has no earlier version to roll back to")
            previous, *older = current["history"]
            self.resolve(previous)
            return self._move_alias("rollback", alias, current, previous, older, by, reason, None)

    def history(self) -> list[HistoryEntry]:
        """Every promotion, approval and rollback, oldest first, after verifying the chain
        (HistoryTamperedError if it fails)."""
        if not self.root.is_dir():
            return []
        with self._alias_lock(shared=True):
            return self._history.read()

    def _move_alias(
        self,
        action: Action,
        alias: str,
        current: dict[str, Any] | None,
        version: str,
        history: list[str],
        by: str,
        reason: str,
        comparison: dict[str, Any] | None,
    ) -> HistoryEntry:
        """The one way an alias moves (under the alias lock): the history entry first
        (which verifies the history, refusing on a tampered one), then the alias file."""
        entry = self._append(action, alias, current, version, by, reason, comparison)
        directory = self.root / ALIASES_DIR
        directory.mkdir(parents=True, exist_ok=True)
        record = {
            "version": version,
            "promoted_at": entry.at.isoformat(),
            "history": history,
            "entry_hash": entry.hash,
        }
        replace_durably(directory / f"{alias}.json", json.dumps(record, indent=2).encode())
        return entry

    def _append(
        self,
        action: Action,
        alias: str,
        current: dict[str, Any] | None,
        version: str,
        by: str,
        reason: str,
        comparison: dict[str, Any] | None,
    ) -> HistoryEntry:
        """One entry on the history, `current` being the alias's file as it is now."""
        return self._history.append(
            action=action,
            actor=by,
            alias=alias,
            from_version=None if current is None else current["version"],
            to_version=version,
            reason=reason,
            report_sha256=self._report_sha256(version),
            comparison=comparison,
        )

    def _report_sha256(self, version: str) -> str | None:
        report = self.get(version).report
        return None if report is None else report.sha256

    @staticmethod
    def _last_change(entries: list[HistoryEntry], alias: str) -> HistoryEntry | None:
        """The latest promotion or rollback of `alias` (approvals move nothing)."""
        for entry in reversed(entries):
            if entry.alias == alias and entry.action != "approve":
                return entry
        return None

    def _check_approval(
        self, entries: list[HistoryEntry], version: str, alias: str, by: str
    ) -> None:
        """Four eyes: refuse unless someone other than `by` approved `version` for `alias`
        after the alias last changed (an approval is used up by the next move)."""
        last = self._last_change(entries, alias)
        since = entries[last.sequence :] if last is not None else entries
        approvals = [
            e
            for e in since
            if e.action == "approve" and e.alias == alias and e.to_version == version
        ]
        if any(not _same_actor(e.actor, by) for e in approvals):
            return
        advice = (
            f"someone other than {by!r} runs `python -m model_store approve {version} "
            f"--alias {alias} --by NAME --reason TEXT`"
        )
        if approvals:
            raise ApprovalRequiredError(
                f"promoting {version} to {alias!r} needs an approval by someone other than the "
                f"promoter, and the only approval is the promoter's own ({by!r}): {advice}"
            )
        stale = "" if last is None else f" since {alias!r} last changed (entry {last.sequence})"
        raise ApprovalRequiredError(
            f"promoting {version} to {alias!r} needs an approval{stale}, and there is none: "
            f"{advice}"
        )

    def _read_alias(self, alias: str) -> dict[str, Any] | None:
        if alias in RESERVED_NAMES:
            raise ModelStoreError(
                f"{alias!r} is a reserved name (the route of the promotion history is "
                "GET /models/history) and cannot be an alias"
            )
        if not ALIAS_PATTERN.match(alias):
            raise ModelStoreError(f"invalid alias name {alias!r}")
        path = self.root / ALIASES_DIR / f"{alias}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def _alias_lock(self, shared: bool = False) -> Iterator[None]:
        """Serialise promotions so that concurrent promotes cannot lose history. `shared`
        is for readers of the history (no append is half done while they read); it
        creates nothing, so it also works on a read-only store, where nothing writes."""
        directory = self.root / ALIASES_DIR
        path = directory / ".lock"
        if shared:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # nothing was ever promoted here
                yield
                return
            with os.fdopen(fd) as lock:
                fcntl.flock(lock, fcntl.LOCK_SH)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            return
        directory.mkdir(parents=True, exist_ok=True)
        with path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
