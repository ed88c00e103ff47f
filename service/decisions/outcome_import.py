"""`python -m service.decisions outcomes import FILE`: outcomes from a bank's files, under
the rules of POST /outcomes, in bounded memory.

The file (CSV, or Parquet where pyarrow is installed) has the columns `request_id`,
`position`, `defaulted` and `observed_at`, and may have `correction`. It is read and
applied a part at a time, each part in one transaction; a row that breaks a rule is not
applied but written, with its row number and the rule, to the rejects file, and the
rest are recorded. A CSV holds only text, so its cells are read by documented spellings:
`position` a whole number, `defaulted` and `correction` true/false or 1/0 (any case),
`observed_at` ISO 8601 with a zone; anything else is refused, never guessed.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from schemas.api import OutcomeItem
from service.decisions.store import DecisionStore

COLUMNS: Final = ("request_id", "position", "defaulted", "observed_at")
OPTIONAL: Final = ("correction",)
PART_ROWS: Final = 10_000
_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}


@dataclass
class Imported:
    rows: int = 0
    recorded: int = 0
    unchanged: int = 0
    refused: int = 0


def _cells(path: Path, part_rows: int) -> Iterator[list[dict[str, Any]]]:
    """The file's rows as dicts of cells, `part_rows` at a time."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=part_rows):
            yield batch.to_pylist()
        return
    with path.open(newline="") as handle:
        part: list[dict[str, Any]] = []
        for row in csv.DictReader(handle):
            part.append(row)
            if len(part) == part_rows:
                yield part
                part = []
        if part:
            yield part


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _BOOLEANS:
        raise ValueError(f"{name}: expected true/false or 1/0, got {value!r}")
    return _BOOLEANS[text]


def _item(cells: dict[str, Any]) -> OutcomeItem:
    """One row as an OutcomeItem, or ValueError naming the field and the rule."""
    position = cells["position"]
    if isinstance(position, str):
        if not position.strip().isdigit():
            raise ValueError(f"position: expected a whole number, got {position!r}")
        position = int(position)
    correction = cells.get("correction")
    values = {
        "request_id": cells["request_id"],
        "position": position,
        "defaulted": _boolean(cells["defaulted"], "defaulted"),
        "observed_at": cells["observed_at"],
        "correction": False if correction in (None, "") else _boolean(correction, "correction"),
    }
    try:
        return OutcomeItem.model_validate_json(_json(values))
    except ValidationError as error:
        raise ValueError(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            )
        ) from None


def _json(values: dict[str, Any]) -> str:
    """As JSON, so that the item is checked by the very rules of the API's body."""
    return json.dumps(values, default=lambda v: v.isoformat())


def import_outcomes(
    store: DecisionStore, source: Path, rejects: Path, part_rows: int = PART_ROWS
) -> Imported:
    """Apply every row of `source`; refused rows go to `rejects` (removed when empty)."""
    counts = Imported()
    with rejects.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", *COLUMNS, *OPTIONAL, "error"])
        for part in _cells(source, part_rows):
            items, rows = [], []
            for offset, cells in enumerate(part, start=counts.rows + 1):
                missing = [c for c in COLUMNS if c not in cells]
                if missing:
                    raise ValueError(f"{source} has no column {', '.join(missing)}")
                try:
                    items.append(_item(cells))
                    rows.append((offset, cells))
                except ValueError as error:
                    writer.writerow([offset, *_row(cells), str(error)])
                    counts.refused += 1
            counts.rows += len(part)
            applied = store.record_outcomes(items, key_id=None, all_or_nothing=False)
            counts.recorded += applied.recorded
            counts.unchanged += applied.unchanged
            for refusal in applied.refused:
                offset, cells = rows[refusal.index]
                writer.writerow([offset, *_row(cells), f"{refusal.rule}: {refusal.message}"])
                counts.refused += 1
    if not counts.refused:
        rejects.unlink()
    return counts


def _row(cells: dict[str, Any]) -> list[Any]:
    return [cells.get(column, "") for column in (*COLUMNS, *OPTIONAL)]
