"""The promotion history: who pointed which alias at which version, when, and why.

    history/entries.jsonl   one JSON object a line, only ever appended to
    history/head.json       {"entries": N, "hash": "<the last entry's hash>"}

An alias file says only what an alias names now. A validator or an auditor also needs to
know who put a version into production, on what grounds, who approved it, which report
they were shown (its SHA-256) and how it compared with the champion at that moment, and
to be able to tell whether that record was changed afterwards.

Tamper evidence: each entry holds the hash of the entry before it (`previous_hash`) and
the SHA-256 of its own canonical JSON (`hash`), so editing, removing, inserting or
reordering a line breaks the chain at that line, and head.json (count and last hash)
catches a tail cut off. Reading checks all of it and names the first bad line; the store
refuses to append to (so to promote on) a history that fails.

What it does not protect against: the hashes are not signatures. Anyone who can write the
store's directory can rewrite the whole chain and head.json consistently. So the head hash
is logged at every append and printed by `python -m model_store history`: copied to a
place the store's writers cannot change (a change ticket, the deployment log), it is what
shows a rebuilt history. Nor can it tell that an `actor` is who they say: that is the name
given to --by; authenticating it is the caller's job (the API's keys, the shell's user).

A crash between appending a line and rewriting head.json (or in the middle of a line)
leaves the files disagreeing, and the history then reads as tampered with: the error
names the line, and an operator decides, against the alias file's `entry_hash`, whether
the last line is a genuine promotion to keep (fix head.json) or not.

Appends must be serialised by the caller: the store holds its alias lock around each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_serializer,
    field_validator,
)

from model_store.durable import fsync_dir, replace_durably
from model_store.errors import HistoryTamperedError, ModelStoreError

HISTORY_DIR: Final = "history"
ENTRIES_FILE: Final = "entries.jsonl"
HEAD_FILE: Final = "head.json"
GENESIS_HASH: Final = "0" * 64

Action = Literal["promote", "approve", "rollback"]
Text = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

log = logging.getLogger("model_store.history")


def canonical_json(fields: dict[str, Any]) -> bytes:
    """The one serialisation that is hashed (and written): sorted keys, no spaces."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


class HistoryEntry(BaseModel):
    """One promotion, approval or rollback, chained to the entry before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int = Field(ge=1, description="Position in the history, from 1.")
    action: Action
    actor: Text = Field(description="Who did it, as given to --by (not authenticated here).")
    at: AwareDatetime = Field(description="When, in UTC.")
    alias: str
    from_version: str | None = Field(
        description="What the alias named before (for an approval: what it names now); "
        "null if it was not set."
    )
    to_version: str = Field(description="The version the alias was pointed at (or approved).")
    reason: Text
    report_sha256: Sha256 | None = Field(
        description="SHA-256 of to_version's model report; null if it has none."
    )
    comparison: dict[str, Any] | None = Field(
        description="What the caller compared (champion against challenger) at that moment."
    )
    previous_hash: Sha256 = Field(description="The previous entry's hash; 64 zeros for the first.")
    hash: Sha256 = Field(description="SHA-256 of the canonical JSON of every other field.")

    @field_validator("at")
    @classmethod
    def _utc(cls, at: datetime) -> datetime:
        if at.utcoffset() != timedelta(0):
            raise ValueError("must be in UTC")
        return at

    @field_serializer("at", when_used="json")
    def _iso(self, at: datetime) -> str:
        return at.isoformat()

    def content(self) -> dict[str, Any]:
        """Every field but `hash`, as JSON values: what `hash` is computed over."""
        return self.model_dump(mode="json", exclude={"hash"})

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.content())).hexdigest()


class PromotionHistory:
    """The history files of one store; `read` verifies them, `append` adds one entry."""

    def __init__(self, store_root: Path) -> None:
        self.directory = store_root / HISTORY_DIR
        self.entries_path = self.directory / ENTRIES_FILE
        self.head_path = self.directory / HEAD_FILE

    def read(self) -> list[HistoryEntry]:
        """Every entry, oldest first, after checking the whole chain and head.json;
        HistoryTamperedError names the first thing that is wrong."""
        has_entries, has_head = self.entries_path.exists(), self.head_path.exists()
        if not has_entries and not has_head:
            return []
        if not has_head:
            raise self._tampered(f"{HEAD_FILE} is missing but {ENTRIES_FILE} exists")
        if not has_entries:
            raise self._tampered(f"{ENTRIES_FILE} is missing but {HEAD_FILE} exists")
        count, head_hash = self._read_head()
        data = self.entries_path.read_bytes()
        lines = data.split(b"\n")
        if lines[-1]:
            raise self._tampered(
                f"line {len(lines)} of {ENTRIES_FILE} does not end in a newline "
                "(cut off, or written outside the store)"
            )
        entries: list[HistoryEntry] = []
        previous = GENESIS_HASH
        for number, line in enumerate(lines[:-1], start=1):
            entry = self._parse(number, line)
            where = f"line {number} (sequence {entry.sequence})"
            if entry.computed_hash() != entry.hash:
                raise self._tampered(f"{where}: its hash does not match its content (edited)")
            if entry.sequence != number:
                raise self._tampered(
                    f"{where}: expected sequence {number} (a line was removed, added or moved)"
                )
            if entry.previous_hash != previous:
                raise self._tampered(
                    f"{where}: previous_hash does not match the hash of the entry before it"
                )
            entries.append(entry)
            previous = entry.hash
        if count != len(entries):
            raise self._tampered(
                f"{HEAD_FILE} records {count} entries but {ENTRIES_FILE} holds {len(entries)} "
                "(lines were cut off the end, or added outside the store)"
            )
        if head_hash != previous:
            raise self._tampered(
                f"{HEAD_FILE}'s hash does not match the last entry's (sequence {len(entries)})"
            )
        return entries

    def append(
        self,
        *,
        action: Action,
        actor: str,
        alias: str,
        from_version: str | None,
        to_version: str,
        reason: str,
        report_sha256: str | None,
        comparison: dict[str, Any] | None,
    ) -> HistoryEntry:
        """Verify the history, then add one entry durably and move head.json to it."""
        entries = self.read()
        previous = entries[-1].hash if entries else GENESIS_HASH
        try:
            draft = HistoryEntry(
                sequence=len(entries) + 1,
                action=action,
                actor=actor,
                at=datetime.now(UTC),
                alias=alias,
                from_version=from_version,
                to_version=to_version,
                reason=reason,
                report_sha256=report_sha256,
                comparison=comparison,
                previous_hash=previous,
                hash=GENESIS_HASH,
            )
            entry = draft.model_copy(update={"hash": draft.computed_hash()})
            line = canonical_json(entry.model_dump(mode="json")) + b"\n"
        except (ValidationError, TypeError, ValueError) as error:
            raise ModelStoreError(f"cannot record this {action}: {error}") from error
        self.directory.mkdir(parents=True, exist_ok=True)
        created = not self.entries_path.exists()
        with self.entries_path.open("ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_dir(self.directory)
        head = {"entries": entry.sequence, "hash": entry.hash}
        replace_durably(self.head_path, json.dumps(head, indent=2).encode() + b"\n")
        log.info(
            "promotion history entry %d: %s %s %s -> %s by %s; head hash %s",
            entry.sequence,
            entry.action,
            entry.alias,
            entry.from_version,
            entry.to_version,
            entry.actor,
            entry.hash,
        )
        return entry

    def _read_head(self) -> tuple[int, str]:
        try:
            head = json.loads(self.head_path.read_bytes())
            count, head_hash = head["entries"], head["hash"]
        except (ValueError, TypeError, KeyError) as error:
            raise self._tampered(f"{HEAD_FILE} is not valid ({error})") from error
        if type(count) is not int or count < 0 or not isinstance(head_hash, str):
            raise self._tampered(f"{HEAD_FILE} is not valid (entries must be a count, hash a str)")
        return count, head_hash

    def _parse(self, number: int, line: bytes) -> HistoryEntry:
        try:
            return HistoryEntry.model_validate_json(line, strict=True)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in error.errors()
            )
            raise self._tampered(f"line {number} is not a valid entry ({problems})") from error

    def _tampered(self, problem: str) -> HistoryTamperedError:
        return HistoryTamperedError(
            f"the promotion history in {self.directory} fails its check: {problem}. "
            "Nothing is promoted until it is repaired; compare it with a copy of its head "
            "hash kept elsewhere",
            problem,
        )
