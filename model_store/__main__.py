"""Operate the model store from a shell: list, show, promote, approve and roll back versions.

python -m model_store list
python -m model_store show production
python -m model_store approve 20261130T021500123456Z-3fa2c1 --by bob --reason "report read"
python -m model_store promote 20261130T021500123456Z-3fa2c1 --by alice --reason "beats champion"
python -m model_store rollback --by alice --reason "approval rate fell by half"
python -m model_store history                 # every move, and the head hash to keep elsewhere

Every promotion, approval and rollback names who did it and why, and is recorded in the
store's hash-chained promotion history. With PROMOTION_REQUIRES_APPROVAL=true a promotion
is refused unless someone else approved that version for that alias first.
"""

import argparse
import sys

from model_store.errors import ModelStoreError
from model_store.history import HistoryEntry
from model_store.settings import StoreSettings
from model_store.store import DEFAULT_ALIAS, ModelStore


def _add_actor(command: argparse.ArgumentParser) -> None:
    command.add_argument("--by", required=True, metavar="NAME", help="who does this (recorded)")
    command.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded)")
    command.add_argument("--alias", default=DEFAULT_ALIAS)


def _moved(entry: HistoryEntry) -> str:
    return f"{entry.alias} -> {entry.to_version}  (history entry {entry.sequence} by {entry.actor})"


def _history_table(entries: list[HistoryEntry]) -> str:
    header = ("#", "time (UTC)", "action", "alias", "from -> to", "actor", "reason")
    rows = [
        (
            str(e.sequence),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.action,
            e.alias,
            f"{e.from_version or '-'} -> {e.to_version}",
            e.actor,
            " ".join(e.reason.split()),
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in (header, *rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_store",
        description=__doc__.split("\n")[0],
        epilog="\n".join(__doc__.split("\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    promote = commands.add_parser(
        "promote",
        help="point an alias at a version (needs another person's approval first when "
        "PROMOTION_REQUIRES_APPROVAL is true)",
    )
    promote.add_argument("version")
    _add_actor(promote)
    approve = commands.add_parser(
        "approve", help="approve a version for an alias, for someone else to promote"
    )
    approve.add_argument("version")
    _add_actor(approve)
    rollback = commands.add_parser("rollback", help="point an alias back at its previous version")
    _add_actor(rollback)
    history = commands.add_parser(
        "history", help="every promotion, approval and rollback, verified, and the head hash"
    )
    history.add_argument("--alias", default=None, help="only this alias's entries")
    history.add_argument("--json", action="store_true", help="one JSON object a line")
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
            entry = store.promote(
                args.version,
                args.alias,
                by=args.by,
                reason=args.reason,
                requires_approval=StoreSettings().promotion_requires_approval,
            )
            print(_moved(entry))
        elif args.command == "approve":
            entry = store.approve(args.version, args.alias, by=args.by, reason=args.reason)
            print(
                f"{entry.to_version} approved for {entry.alias} by {entry.actor} "
                f"(history entry {entry.sequence}); someone else may now promote it"
            )
        elif args.command == "rollback":
            print(_moved(store.rollback(args.alias, by=args.by, reason=args.reason)))
        elif args.command == "history":
            entries = store.history()
            shown = [e for e in entries if args.alias in (None, e.alias)]
            if args.json:
                for entry in shown:
                    print(entry.model_dump_json())
            else:
                if shown:
                    print(_history_table(shown))
                else:
                    print("no promotions recorded" + (f" for {args.alias}" if args.alias else ""))
                if entries:
                    print(f"head: {len(entries)} entries, hash {entries[-1].hash} (verified)")
        elif args.command == "export":
            version = store.export(args.version, args.target, args.alias, args.serving_only)
            print(f"{args.target}: {args.alias} -> {version}")
    except ModelStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
