"""Outcomes on record: what happened after each decision, under rules that never lose or
rewrite one.

One function, `record_outcomes`, applies the rules for the API and for file imports
alike, in one transaction:
- an outcome must name a recorded decision (request id and position), or it is refused;
- the same outcome sent again is `unchanged`;
- a different outcome for a decision that has one is refused, unless it is marked as a
  correction; a correction is a new row, and the row it replaces stays on record;
- two items of one call about the same decision must agree.

Writers are serialised (SQLite's write lock taken first, PostgreSQL's advisory lock), so
two callers racing with different outcomes cannot both find the decision without one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select, text, update

from schemas.api import OutcomeItem
from service.decisions.tables import decisions, outcomes

# pg_advisory_xact_lock key of outcome writers (the migrations use another).
_OUTCOMES_LOCK: Final = 0x6F7574636F6D65
# Request ids looked up per query: well under every backend's bound-parameter limit.
_LOOKUP_CHUNK: Final = 500


@dataclass(frozen=True)
class Refusal:
    """One item refused, by its index among the items given, and the rule it broke."""

    index: int
    rule: str  # decision_not_found | outcome_conflict | items_disagree
    message: str


@dataclass(frozen=True)
class Applied:
    recorded: int
    unchanged: int
    refused: list[Refusal]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _same(item: OutcomeItem, row: Any) -> bool:
    return item.defaulted == bool(row.defaulted) and _aware(item.observed_at) == _aware(
        row.observed_at
    )


def _keys_in(connection: Connection, table: Any, keys: list[tuple[str, int]]) -> list[Any]:
    """The rows of `table` for these (request id, position) keys: looked up by request id,
    which is indexed (a batch's customers share one), and kept by position here."""
    wanted = set(keys)
    request_ids = sorted({request_id for request_id, _ in keys})
    columns = [table.c.request_id, table.c.position]
    if table is outcomes:
        columns += [table.c.id, table.c.defaulted, table.c.observed_at]
    rows = []
    for start in range(0, len(request_ids), _LOOKUP_CHUNK):
        chunk = request_ids[start : start + _LOOKUP_CHUNK]
        found = connection.execute(select(*columns).where(table.c.request_id.in_(chunk)))
        rows += [row for row in found if (row.request_id, row.position) in wanted]
    return rows


def current_outcomes(
    connection: Connection, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Any]:
    """(request id, position) -> the newest outcome row, for the keys that have one."""
    current: dict[tuple[str, int], Any] = {}
    for row in sorted(_keys_in(connection, outcomes, list(keys)), key=lambda r: r.id):
        current[(row.request_id, row.position)] = row
    return current


def record_outcomes(
    connection: Connection,
    backend: str,
    items: Sequence[OutcomeItem],
    key_id: str | None,
    all_or_nothing: bool,
) -> Applied:
    """Apply the rules to `items` inside the caller's transaction on `connection`. With
    `all_or_nothing`, any refusal writes nothing (the caller rolls back on the refusals
    returned); otherwise the acceptable items are written and the others returned."""
    if backend == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTCOMES_LOCK})
    else:  # a write first: SQLite takes its one write lock now, before anything is read
        connection.execute(update(outcomes).where(text("0")).values(correction=False))
    keys = sorted({(item.request_id, item.position) for item in items})
    decided = {(row.request_id, row.position) for row in _keys_in(connection, decisions, keys)}
    current = current_outcomes(connection, keys)
    refused: list[Refusal] = []
    first_of: dict[tuple[str, int], OutcomeItem] = {}
    writes: list[dict[str, Any]] = []
    unchanged = 0
    recorded_at = datetime.now(UTC)
    for index, item in enumerate(items):
        key = (item.request_id, item.position)
        if key not in decided:
            refused.append(
                Refusal(
                    index,
                    "decision_not_found",
                    f"no decision is recorded under request id {item.request_id!r} at "
                    f"position {item.position}",
                )
            )
            continue
        earlier = first_of.setdefault(key, item)
        if earlier is not item:
            if (earlier.defaulted, earlier.observed_at, earlier.correction) != (
                item.defaulted,
                item.observed_at,
                item.correction,
            ):
                refused.append(
                    Refusal(index, "items_disagree", "another item names the same decision")
                )
            else:
                unchanged += 1
            continue
        existing = current.get(key)
        if existing is not None and _same(item, existing):
            unchanged += 1
            continue
        if existing is not None and not item.correction:
            refused.append(
                Refusal(
                    index,
                    "outcome_conflict",
                    "the decision already has a different outcome; send it with "
                    '"correction": true to replace it (the earlier one stays on record)',
                )
            )
            continue
        writes.append(
            {
                "request_id": item.request_id,
                "position": item.position,
                "defaulted": item.defaulted,
                "observed_at": _aware(item.observed_at).astimezone(UTC),
                "recorded_at": recorded_at,
                "correction": existing is not None,
                "key_id": key_id,
            }
        )
    if writes and not (all_or_nothing and refused):
        connection.execute(insert(outcomes), writes)
    recorded = 0 if (all_or_nothing and refused) else len(writes)
    return Applied(recorded, unchanged, refused)


def outcome_history(connection: Connection, request_id: str) -> dict[int, list[dict[str, Any]]]:
    """Position -> every outcome recorded for that customer of the request, oldest first,
    each with when a correction replaced it (None for the current one)."""
    rows = connection.execute(
        select(outcomes).where(outcomes.c.request_id == request_id).order_by(outcomes.c.id)
    ).all()
    history: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        entries = history.setdefault(row.position, [])
        if entries:
            entries[-1]["replaced_at"] = _aware(row.recorded_at)
        entries.append(
            {
                "defaulted": bool(row.defaulted),
                "observed_at": _aware(row.observed_at),
                "recorded_at": _aware(row.recorded_at),
                "correction": bool(row.correction),
                "replaced_at": None,
            }
        )
    return history
