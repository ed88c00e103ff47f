"""`python -m service.decisions`: the decision log from the command line, for model
validation and retention. Reads DECISION_LOG_URL like the service (or --url).

    python -m service.decisions export --since 2026-11-01T00:00:00Z decisions.csv
    python -m service.decisions export --model-version V decisions.parquet
    python -m service.decisions export --with-outcomes successor-training.csv
    python -m service.decisions purge --older-than-days 2555
    python -m service.decisions outcomes import outcomes.csv [--rejects refused.csv]

Parquet needs pyarrow (installed by `make run`; not in the image, where CSV works).
"""

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import FEATURE_NAMES
from schemas.features import DATASET_COLUMNS
from service.decisions.outcome_import import import_outcomes
from service.decisions.store import DecisionStore
from service.decisions.tables import INTEGER_INPUTS
from service.settings import ServiceSettings

TARGET_COLUMN = "default.payment.next.month"  # the data set's name for the outcome
EXPORT_COLUMNS = (
    "id", "request_id", "position", "decided_at", "route", "key_id", "model_version",
    "threshold", *FEATURE_NAMES, "probability", "default", "score", "grade", "reasons", "arm",
)  # fmt: skip


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. {text}Z")
    return moment


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """One export row: the inputs as columns, the reasons as a JSON list."""
    row = {key: value for key, value in record.items() if key != "customer"}
    row.update(record["customer"])
    row["reasons"] = None if record["reasons"] is None else json.dumps(record["reasons"])
    return row


def _parquet_schema() -> Any:
    import pyarrow as pa

    numeric = {
        name: pa.int64() if name in INTEGER_INPUTS else pa.float64() for name in FEATURE_NAMES
    }
    types = {
        "id": pa.int64(), "request_id": pa.string(), "position": pa.int64(),
        "decided_at": pa.timestamp("us", tz="UTC"), "route": pa.string(), "key_id": pa.string(),
        "model_version": pa.string(), "threshold": pa.float64(), **numeric,
        "probability": pa.float64(), "default": pa.bool_(), "score": pa.int64(),
        "grade": pa.int64(), "reasons": pa.string(), "arm": pa.string(),
    }  # fmt: skip
    return pa.schema([(column, types[column]) for column in EXPORT_COLUMNS])


def export(records: Iterator[dict[str, Any]], target: Path, part_rows: int = 50_000) -> int:
    """Write the records to CSV or Parquet (by the file's suffix); returns how many."""
    count = 0
    if target.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _parquet_schema()
        with pq.ParquetWriter(target, schema) as writer:
            part: list[dict[str, Any]] = []
            for record in records:
                part.append(_flat(record))
                if len(part) == part_rows:
                    writer.write_table(pa.Table.from_pylist(part, schema=schema))
                    count += len(part)
                    part.clear()
            writer.write_table(pa.Table.from_pylist(part, schema=schema))
            return count + len(part)
    with target.open("w", newline="") as file:
        writer_csv = csv.DictWriter(file, fieldnames=EXPORT_COLUMNS)
        writer_csv.writeheader()
        for record in records:
            row = _flat(record)
            row["decided_at"] = row["decided_at"].isoformat()
            writer_csv.writerow(row)
            count += 1
    return count


# The layout `python -m train --data` reads (the data set's), then where each row came from.
TRAINING_COLUMNS = (
    "ID", *DATASET_COLUMNS, TARGET_COLUMN,
    "request_id", "position", "model_version", "probability", "decided_at", "observed_at",
)  # fmt: skip


def export_with_outcomes(records: Iterator[dict[str, Any]], target: Path) -> int:
    """Decisions that have an outcome, as a CSV in the data set's layout (the outcome as
    its target), so a successor can be trained on the bank's own customers; returns how
    many."""
    count = 0
    with target.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(TRAINING_COLUMNS)
        for record in records:
            customer = record["customer"]
            writer.writerow(
                [
                    record["id"],
                    *(customer[name] for name in DATASET_COLUMNS.values()),
                    int(record["defaulted"]),
                    record["request_id"],
                    record["position"],
                    record["model_version"],
                    repr(record["probability"]),
                    record["decided_at"].isoformat(),
                    record["observed_at"].isoformat(),
                ]
            )
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.decisions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="the log's database (default: DECISION_LOG_URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="write records to OUT.csv or OUT.parquet")
    exporting.add_argument("output", type=Path)
    exporting.add_argument("--since", type=_aware, help="from this time (ISO 8601 with a zone)")
    exporting.add_argument("--until", type=_aware, help="before this time (ISO 8601 with a zone)")
    exporting.add_argument("--model-version", help="only this model version")
    exporting.add_argument(
        "--with-outcomes",
        action="store_true",
        help="only decisions with an outcome, as a CSV in the data set's layout that "
        "python -m train --data reads (the outcome is the target)",
    )
    purging = commands.add_parser("purge", help="delete records older than N days")
    purging.add_argument("--older-than-days", type=int, required=True)
    outcomes = commands.add_parser("outcomes", help="record outcomes from a file")
    outcome_commands = outcomes.add_subparsers(dest="outcomes_command", required=True)
    importing = outcome_commands.add_parser(
        "import", help="apply FILE.csv or FILE.parquet under the rules of POST /outcomes"
    )
    importing.add_argument("file", type=Path)
    importing.add_argument(
        "--rejects", type=Path, help="where refused rows go (default: FILE.rejects.csv)"
    )
    args = parser.parse_args(argv)

    # The start-up policy on API keys guards what the service exposes; this command serves
    # nothing, so it reads the log's settings wherever they are set, keys or not.
    settings = ServiceSettings(allow_anonymous=True)
    target = args.url or settings.decision_log_target
    if target is None:
        parser.error("DECISION_LOG_URL is none: there is no decision log to read")
    store = DecisionStore(target, settings.decision_log_timeout_seconds)
    try:
        store.migrate()
        if args.command == "export":
            if args.output.suffix not in (".csv", ".parquet"):
                parser.error("OUTPUT must end in .csv or .parquet")
            if args.output.exists():
                parser.error(f"{args.output} exists: the export never overwrites a file")
            filters = {
                "since": args.since, "until": args.until, "model_version": args.model_version
            }  # fmt: skip
            if args.with_outcomes:
                if args.output.suffix != ".csv":
                    parser.error("--with-outcomes writes a CSV (the layout training reads)")
                count = export_with_outcomes(store.iterate_with_outcomes(**filters), args.output)
                what = "decisions with outcomes"
            else:
                count = export(store.iterate(**filters), args.output)
                what = "decisions"
            print(f"exported {count} {what} from {store.description} to {args.output}")
        elif args.command == "outcomes":
            rejects = args.rejects or args.file.with_name(f"{args.file.stem}.rejects.csv")
            if args.file.suffix not in (".csv", ".parquet"):
                parser.error("FILE must end in .csv or .parquet")
            if rejects.exists():
                parser.error(f"{rejects} exists: the import never overwrites a file")
            counts = import_outcomes(store, args.file, rejects)
            print(
                f"{counts.rows} rows: {counts.recorded} recorded, {counts.unchanged} unchanged, "
                f"{counts.refused} refused"
                + (f" (written to {rejects} with the rule each broke)" if counts.refused else "")
            )
            return 1 if counts.refused else 0
        else:
            if args.older_than_days < 1:
                parser.error("--older-than-days must be at least 1")
            cutoff = datetime.now(UTC) - timedelta(days=args.older_than_days)
            deleted = store.purge(cutoff)
            print(f"deleted {deleted} decisions made before {cutoff.isoformat()}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
