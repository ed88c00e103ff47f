"""Operate the model store from a shell: list, show, promote and roll back versions.

python -m model_store list
python -m model_store show production
python -m model_store promote 20261130T021500123456Z-3fa2c1
python -m model_store rollback
"""

import argparse
import sys

from model_store.errors import ModelStoreError
from model_store.settings import StoreSettings
from model_store.store import DEFAULT_ALIAS, ModelStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_store", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--store",
        default=StoreSettings().model_store_dir,
        help="store directory (MODEL_STORE_DIR, default ./models)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions, newest first, with headline metrics and aliases")
    show = commands.add_parser("show", help="print one version's manifest")
    show.add_argument("version", help="version id or alias")
    promote = commands.add_parser("promote", help="point an alias at a version")
    promote.add_argument("version")
    promote.add_argument("--alias", default=DEFAULT_ALIAS)
    rollback = commands.add_parser("rollback", help="point an alias back at its previous version")
    rollback.add_argument("--alias", default=DEFAULT_ALIAS)
    export = commands.add_parser("export", help="copy a version into another store, aliased")
    export.add_argument("version")
    export.add_argument("target", help="directory of the other store")
    export.add_argument("--alias", default=DEFAULT_ALIAS)
    export.add_argument(
        "--serving-only",
        action="store_true",
        help="copy only what serving reads (manifest and compiled model), as for an image",
    )
    args = parser.parse_args(argv)

    store = ModelStore(args.store)
    try:
        if args.command == "list":
            aliases = store.aliases()
            for manifest in store.list():
                names = ",".join(a for a, v in aliases.items() if v == manifest.version)
                print(
                    f"{manifest.version}  roc_auc={manifest.metrics.roc_auc:.4f}  "
                    f"brier={manifest.metrics.brier:.4f}  "
                    f"{'quick  ' if manifest.quick else ''}{names}"
                )
        elif args.command == "show":
            print(store.get(args.version).model_dump_json(indent=2))
        elif args.command == "promote":
            print(f"{args.alias} -> {store.promote(args.version, args.alias)}")
        elif args.command == "rollback":
            print(f"{args.alias} -> {store.rollback(args.alias)}")
        elif args.command == "export":
            version = store.export(args.version, args.target, args.alias, args.serving_only)
            print(f"{args.target}: {args.alias} -> {version}")
    except ModelStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
