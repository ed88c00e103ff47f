"""The local engine: a file of any size scored on this machine, streaming.

Reads CSV or Parquet (by extension) in chunks, so memory stays flat however long the
file is; scores each chunk with `portfolio.scoring` (the compiled model the service
serves, so each row gets the very probability `/predict` gives the same customer); and
writes the input's columns plus the score columns, in input order, to CSV or Parquet.

Output is written under a temporary name and renamed at the end: a failed or interrupted
run leaves nothing under the real name.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from model_store.runtime import Predictor
from portfolio.formats import file_format
from portfolio.scoring import (
    ERROR_COLUMN,
    LISTED_REJECTS,
    REASON_COLUMNS,
    ROW_COLUMN,
    score_frame,
)

CHUNK_ROWS: Final = 100_000

console = Console(stderr=True, soft_wrap=True)  # messages stay on one line, for logs


@dataclass
class Counts:
    """Rows read, scored and rejected, and the first rejects as `row N: reasons`."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    examples: list[str] = field(default_factory=list)


def count_rows(path: Path) -> int:
    """Data rows in the file: lines after a CSV's header, or a Parquet file's row count."""
    if file_format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines - 1 + (last != b"\n"), 0)


def read_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """CSV cells as text (exactly as written: the contract checks parse them) or Parquet
    columns as stored."""
    if file_format(path) == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows)


class _Writer:
    """Appends frames to a CSV or Parquet file, with one schema for every chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet = file_format(path) == "parquet"
        self._parquet_writer: pq.ParquetWriter | None = None
        self._handle = None if self.parquet else path.open("w", newline="")
        self._header = True

    def write(self, frame: pd.DataFrame, schema: pa.Schema | None) -> None:
        if self.parquet:
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            if self._parquet_writer is None:
                self._parquet_writer = pq.ParquetWriter(self.path, table.schema)
            self._parquet_writer.write_table(table)
        else:
            frame.to_csv(self._handle, header=self._header, index=False, lineterminator="\n")
        self._header = False

    def close(self) -> None:
        if self._parquet_writer is not None:
            self._parquet_writer.close()
        if self._handle is not None:
            self._handle.close()


def _schemas(chunk: pd.DataFrame, explain: bool) -> tuple[pa.Schema, pa.Schema]:
    """Output and rejects schemas, fixed from the first chunk so that a column that is
    empty in one chunk (no reasons, no rejects) keeps its type in every chunk."""
    source = pa.Schema.from_pandas(chunk, preserve_index=False)
    scores = [
        pa.field("probability", pa.float64()),
        pa.field("default", pa.bool_()),
        pa.field("score", pa.int64()),
        pa.field("grade", pa.int64()),
        pa.field("model_version", pa.string()),
    ]
    reasons = [pa.field(name, pa.string()) for name in REASON_COLUMNS] if explain else []
    output = pa.schema([*source, *scores, *reasons])
    rejects = pa.schema([pa.field(ROW_COLUMN, pa.int64()), *source, pa.field("error", pa.string())])
    return output, rejects


def _partial(path: Path) -> Path:
    """Where a file is written before it is complete (same format, hidden name)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def score_file(
    source: Path,
    target: Path,
    predictor: Predictor,
    *,
    explain: bool = False,
    rejects: Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Counts:
    """Score `source` into `target` (and rows that break the contract into `rejects`).

    Without `rejects`, a file with any such row produces no output: the counts list the
    first of them and the caller reports the failure.
    """
    counts = Counts()
    partial, partial_rejects = _partial(target), None if rejects is None else _partial(rejects)
    writers = [_Writer(partial)] + ([] if partial_rejects is None else [_Writer(partial_rejects)])
    schemas: tuple[pa.Schema, pa.Schema] | None = None
    try:
        with Progress(
            TextColumn("scoring {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("score", total=count_rows(source), name=source.name)
            for chunk in read_chunks(source, chunk_rows):
                if schemas is None:
                    schemas = _schemas(chunk, explain)
                result = score_frame(chunk, predictor, explain)
                bad = result[ERROR_COLUMN].notna().to_numpy()
                if bad.any():
                    rows = counts.rows + 1 + bad.nonzero()[0]
                    for row, reason in zip(rows, result.loc[bad, ERROR_COLUMN], strict=True):
                        if len(counts.examples) < LISTED_REJECTS:
                            counts.examples.append(f"row {row}: {reason}")
                    if len(writers) > 1:
                        rejected = chunk.reset_index(drop=True).loc[bad]
                        rejected.insert(0, ROW_COLUMN, rows)
                        rejected[ERROR_COLUMN] = result.loc[bad, ERROR_COLUMN].to_numpy()
                        writers[1].write(rejected, schemas[1])
                scored = result.loc[~bad].drop(columns=[ERROR_COLUMN])
                scored["default"] = scored["default"].astype(bool)  # every row here scored
                scored["score"] = scored["score"].astype("int64")
                writers[0].write(scored, schemas[0])
                counts.rows += len(result)
                counts.rejected += int(bad.sum())
                counts.scored += int((~bad).sum())
                bar.advance(task, len(result))
        if counts.rows == 0:
            raise ValueError("the file has no data rows")
    except BaseException:
        for writer in writers:
            writer.close()
            writer.path.unlink(missing_ok=True)
        raise
    for writer in writers:
        writer.close()
    if counts.rejected and rejects is None:
        partial.unlink(missing_ok=True)
        return counts
    partial.replace(target)
    if partial_rejects is not None and rejects is not None:
        partial_rejects.replace(rejects)
    return counts
