"""`python -m portfolio score input.csv --out scored.csv`: score a file of any size on
this machine, with the compiled model the service serves (model_store.runtime), so each
row gets the very probability `/predict` gives the same customer.

Reads the data set's CSV layout (LIMIT_BAL ... PAY_AMT6; other columns such as ID or the
target are ignored, ID is copied through) in chunks, so memory stays flat however long
the file is, and writes one line per input row, in input order:

    row,ID,probability,default,model_version,error

A row that breaks the contract is not dropped or repaired: it gets an empty probability
and decision and an `error` naming each field and rule, exactly as the API would.

With `--explain`, four more columns, `reason_1` .. `reason_4`, hold the codes of the
principal reasons (GET /reasons), as `/predict?explain=true` gives them; a row with fewer
reasons that raised its risk leaves the rest empty.
"""

import argparse
import sys
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from model_store import ModelStore, ModelStoreError
from model_store.runtime import ENGINE, ExplanationUnavailableError, Predictor
from model_store.settings import StoreSettings
from portfolio.columns import check_columns
from schemas.features import DATASET_COLUMNS
from schemas.reasons import MAX_REASONS, REASONS, contributions_by_reason, top_reasons

CHUNK_ROWS: Final = 100_000
OUTPUT_COLUMNS: Final = ["row", "ID", "probability", "default", "model_version", "error"]
REASON_COLUMNS: Final = [f"reason_{k}" for k in range(1, MAX_REASONS + 1)]

console = Console(stderr=True)


def count_rows(path: Path) -> int:
    """Data rows in the file (lines after the header), read in blocks without parsing."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines - 1 + (last != b"\n"), 0)


def score_chunk(
    chunk: pd.DataFrame, predictor: Predictor, first_row: int, explain: bool = False
) -> pd.DataFrame:
    chunk = chunk.rename(columns=lambda c: DATASET_COLUMNS.get(c.strip().upper(), c))
    checked = check_columns(chunk)
    probability = np.full(len(chunk), np.nan)
    reasons = np.full((len(chunk), MAX_REASONS), "", dtype=object)
    if checked.valid.any() and explain:
        explained = predictor.explain(checked.X[checked.valid])
        probability[checked.valid] = explained.probabilities
        by_reason = contributions_by_reason(explained.contributions, explained.model_inputs)
        for row, chosen in zip(np.flatnonzero(checked.valid), top_reasons(by_reason), strict=True):
            for k, reason in enumerate(chosen):
                reasons[row, k] = REASONS[reason].code
    elif checked.valid.any():
        probability[checked.valid] = predictor.predict_proba(checked.X[checked.valid])
    with np.errstate(invalid="ignore"):
        flagged = np.where(probability >= predictor.threshold, "1", "0")
    decision = np.where(checked.valid, flagged, "")
    error = np.full(len(chunk), "", dtype=object)
    for index, reason in checked.errors.items():
        error[index] = reason
    columns = {
        "row": np.arange(first_row, first_row + len(chunk)),
        "ID": chunk["ID"].to_numpy() if "ID" in chunk.columns else "",
        "probability": probability,
        "default": decision,
        "model_version": predictor.version,
        "error": error,
    }
    if explain:
        columns |= {name: reasons[:, k] for k, name in enumerate(REASON_COLUMNS)}
    return pd.DataFrame(columns)


def score_file(
    source: Path,
    target: Path,
    predictor: Predictor,
    chunk_rows: int = CHUNK_ROWS,
    explain: bool = False,
) -> dict[str, int]:
    """Score `source` into `target`; returns counts of rows scored and rejected."""
    total = count_rows(source)
    scored = rejected = 0
    temporary = target.with_name(f".{target.name}.partial")
    with (
        Progress(
            TextColumn("scoring {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
        temporary.open("w", newline="") as out,
    ):
        task = bar.add_task("score", total=total, name=source.name)
        reader = pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=chunk_rows)
        header = True
        for chunk in reader:
            result = score_chunk(chunk, predictor, scored + rejected + 1, explain)
            result.to_csv(out, header=header, index=False, lineterminator="\n")
            header = False
            bad = int(result["error"].astype(bool).sum())
            rejected += bad
            scored += len(result) - bad
            bar.advance(task, len(result))
    temporary.replace(target)  # a crash leaves no half-written output under the real name
    return {"rows": scored + rejected, "scored": scored, "rejected": rejected}


def main(argv: list[str] | None = None) -> int:
    settings = StoreSettings()
    parser = argparse.ArgumentParser(
        prog="python -m portfolio score", description=__doc__.split("\n")[0]
    )
    parser.add_argument("input", type=Path, help="CSV in the data set's layout")
    parser.add_argument("--out", type=Path, required=True, help="where to write the scored CSV")
    parser.add_argument(
        "--store", type=Path, default=settings.model_store_dir, help="model store (MODEL_STORE_DIR)"
    )
    parser.add_argument(
        "--version", default=settings.model_version, help="version id or alias (MODEL_VERSION)"
    )
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows read at a time")
    parser.add_argument(
        "--threads", type=int, default=0, help="slices scored at once (0: one per core)"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="add reason_1..reason_4: the principal reason codes (about 3 ms per row per core)",
    )
    args = parser.parse_args(argv)
    if not args.input.is_file():
        console.print(f"error: {args.input} does not exist")
        return 2
    try:
        predictor = Predictor(ModelStore(args.store).load(args.version), args.threads)
    except ModelStoreError as error:
        console.print(f"error: {error}")
        return 1
    try:
        counts = score_file(args.input, args.out, predictor, args.chunk_rows, args.explain)
    except ExplanationUnavailableError as error:
        console.print(f"error: {error}")
        return 1
    except ValueError as error:  # e.g. the file lacks feature columns
        console.print(f"error: {args.input}: {error}")
        return 2
    console.print(
        f"{counts['rows']} rows: {counts['scored']} scored, {counts['rejected']} rejected "
        f"(see the error column) -> {args.out} with model {predictor.version} ({ENGINE})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
