"""Command line of the training package: `python -m train [--search | --quick | ...]`."""

import argparse
import sys
from pathlib import Path

from model_store import DEFAULT_ALIAS, ModelStore
from train.config import CONFIG_PATH, load_config
from train.console import console
from train.data import DatasetError, load_dataset
from train.settings import TrainSettings


def parse_args(argv: list[str] | None, settings: TrainSettings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description=(
            "Train the default-risk model on the UCI 'default of credit card clients' data "
            "and save it as a new version in the model store."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=settings.data_path,
        help=f"CSV or .xls data file (DATA_PATH; now {settings.data_path})",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=settings.model_store_dir,
        help=f"model store directory (MODEL_STORE_DIR; now {settings.model_store_dir})",
    )
    parser.add_argument(
        "--seed", type=int, default=settings.seed, help="seed for split, folds and forest (SEED)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--search",
        action="store_true",
        help=f"run the hyperparameter search (tens of minutes), write its winner to "
        f"train/{CONFIG_PATH.name}; trains nothing",
    )
    mode.add_argument(
        "--quick", action="store_true", help="a small, fast fit for tests (its manifest says quick)"
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=None,
        help="train on a stratified sample of this many rows",
    )
    parser.add_argument(
        "--promote",
        default=DEFAULT_ALIAS,
        metavar="ALIAS",
        help="alias to point at the new version (default: production)",
    )
    parser.add_argument(
        "--no-promote", action="store_true", help="save the version without moving any alias"
    )
    parser.add_argument(
        "--include-protected",
        action="store_true",
        help="make sex, marriage and age model inputs (the default model leaves them out; "
        "the summary and report show held-out metrics both ways)",
    )
    parser.add_argument(
        "--no-monotone",
        action="store_true",
        help="train an unconstrained forest, whose risk may fall as a payment falls further "
        "behind (the default model never lets it; the manifest records which kind it is)",
    )
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing if the store already holds a version (used by make run)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    settings = TrainSettings()
    args = parse_args(argv, settings)

    if args.if_empty:
        store = ModelStore(args.store)
        versions = store.list()
        if versions:
            aliases = store.aliases()
            console.print(
                f"model store {args.store} holds {len(versions)} version(s) "
                f"(aliases: {aliases or 'none'}); not training"
            )
            return 0
        console.print(f"model store {args.store} is empty: training the default model")

    try:
        dataset = load_dataset(args.data)
    except DatasetError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    if dataset.provenance.rows_rejected:
        console.print(
            f"[yellow]{dataset.provenance.rows_rejected} of {dataset.provenance.rows} rows "
            f"break the feature contract and are left out:[/] {dataset.provenance.rejected_reasons}"
        )

    config = load_config()
    if args.search:
        from train.search import run_search

        run_search(dataset, args.seed, config.cv_folds)
        return 0

    from train.monotone import MonotonicityRefusedError
    from train.rating import MasterScaleRefusedError
    from train.training import TrainOptions, train_and_save

    try:
        train_and_save(
            dataset,
            config,
            TrainOptions(
                seed=args.seed,
                quick=args.quick,
                sample_rows=args.sample_rows,
                include_protected=args.include_protected,
                monotone=not args.no_monotone,
            ),
            store_dir=args.store,
            promote_to=None if args.no_promote else args.promote,
        )
    except (MasterScaleRefusedError, MonotonicityRefusedError) as error:
        console.print(f"[bold red]refused:[/] {error}", highlight=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
