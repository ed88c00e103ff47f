"""`python -m portfolio score INPUT OUTPUT [options]`: score a whole portfolio file.

INPUT and OUTPUT are CSV or Parquet, by extension (with Spark, either may be a directory
of Parquet parts). Output: the input's columns, unchanged, plus `probability`, `default`
and `model_version`, and `reason_1` .. `reason_4` (the principal reason codes, as
`/predict?explain=true` gives them) with `--explain`.

A row that breaks the contract is never scored. With `--rejects PATH` it is written there
with its row number (or ID) and each broken rule, and the rest is scored; without it, the
run writes nothing and exits 3, naming the rows.
"""

import argparse
import time
from pathlib import Path

from model_store import ModelStore, ModelStoreError
from model_store.runtime import ENGINE, Predictor
from model_store.settings import StoreSettings
from portfolio.local import CHUNK_ROWS, console, score_file

EXIT_BAD_INPUT = 2
EXIT_REJECTED_ROWS = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    settings = StoreSettings()
    parser = argparse.ArgumentParser(
        prog="python -m portfolio score",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="CSV or Parquet in the data set's layout")
    parser.add_argument("output", type=Path, help="where to write the scored rows")
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    parser.add_argument("--master", help="Spark master URL (default: Spark's own, e.g. local[*])")
    parser.add_argument(
        "--version", default=settings.model_version, help="version id or alias (MODEL_VERSION)"
    )
    parser.add_argument(
        "--store", type=Path, default=settings.model_store_dir, help="model store (MODEL_STORE_DIR)"
    )
    parser.add_argument("--explain", action="store_true", help="add the top reason codes")
    parser.add_argument("--rejects", type=Path, help="write rows that break the contract here")
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="local engine: rows read at a time"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="local engine: slices scored at once (0: per core)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.input.exists():
        console.print(f"error: {args.input} does not exist")
        return EXIT_BAD_INPUT
    for path in (args.output, args.rejects):
        if path is not None and path.exists():
            console.print(f"error: {path} exists; scored output never replaces a file")
            return EXIT_BAD_INPUT
    try:
        model = ModelStore(args.store).load(args.version)
    except ModelStoreError as error:
        console.print(f"error: {error}")
        return 1
    if args.explain and model.explainer is None:
        console.print(f"error: model version {model.version} has no explainer (no reason codes)")
        return 1
    started = time.perf_counter()
    try:
        if args.engine == "spark":
            from portfolio.spark import score_with_spark, session

            spark = session(args.master)
            scored, rejected, examples = score_with_spark(
                spark, args.input, args.output, model, args.explain, args.rejects
            )
        else:
            counts = score_file(
                args.input,
                args.output,
                Predictor(model, args.threads),
                explain=args.explain,
                rejects=args.rejects,
                chunk_rows=args.chunk_rows,
            )
            scored, rejected, examples = counts.scored, counts.rejected, counts.examples
    except ValueError as error:  # a file without the features, an unknown format
        console.print(f"error: {args.input}: {error}")
        return EXIT_BAD_INPUT
    if rejected and args.rejects is None:
        console.print(
            f"error: {rejected} row(s) break the contract; nothing was written. "
            "Fix them, or pass --rejects PATH to write them apart and score the rest:"
        )
        for example in examples:
            console.print(f"  {example}", highlight=False)
        return EXIT_REJECTED_ROWS
    seconds = time.perf_counter() - started
    console.print(
        f"{scored + rejected} rows: {scored} scored, {rejected} rejected"
        f"{f' (-> {args.rejects})' if rejected else ''} -> {args.output} with model "
        f"{model.version} ({ENGINE}, {args.engine} engine) in {seconds:.1f} s",
        highlight=False,
    )
    return 0
