"""`python -m service.doc_tables [--check]`: the tables in docs/ that the code defines (make docs).

The settings table and the problem-type table are rendered from the classes that define
them, so the docs cannot drift from the code: a setting's meaning is its field's
`description`, a problem type's is its error class's `description`. Each table sits
between two marker comments; the hand-written text around them is left alone. With
`--check` nothing is written, and the exit status is 1 when a table is stale (the test
suite runs the same check).

Only the service's own modules are imported (and `train.settings`, which is plain
pydantic-settings), never scikit-learn or pandas, so the check is quick.
"""

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from model_store.settings import StoreSettings
from service.errors import RoutingError, ServiceError
from service.settings import ServiceSettings

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
DOCS: Final = PROJECT_ROOT / "docs"

# The router answers both with `about:blank`; status and title come from each instance.
ROUTING_STATUSES: Final = (404, 405)

STALE_ADVICE: Final = (
    "a generated table differs from the code; run `make docs` (python -m service.doc_tables)"
)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; a `|` inside a cell is escaped so that it stays one cell."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _default(field: FieldInfo) -> str:
    """A default as an operator would type it: booleans lower-case, paths relative to the
    checkout (so the table reads the same on every machine), "" as the word empty."""
    if field.is_required():
        return "required"
    value: Any = field.get_default(call_default_factory=True)
    if value == "":
        return "empty"
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, Path):
        text = os.path.relpath(value, PROJECT_ROOT) if value.is_absolute() else str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return f"`{text}`"


def _meaning(field: FieldInfo) -> str:
    """The field's description; a field without one still shows its choices, if any."""
    if field.description:
        return " ".join(field.description.split())
    if get_origin(field.annotation) is Literal:
        return "One of " + ", ".join(f"`{choice}`" for choice in get_args(field.annotation)) + "."
    return ""


def _settings_rows(settings: type[BaseSettings], skip: Sequence[str] = ()) -> list[list[str]]:
    return [
        [f"`{name.upper()}`", _default(field), _meaning(field)]
        for name, field in settings.model_fields.items()
        if name not in skip
    ]


def settings_tables() -> str:
    """Every setting of the service, then those the training command adds."""
    from train.settings import TrainSettings  # plain pydantic-settings: no training library

    header = ("variable", "default", "meaning")
    store = list(StoreSettings.model_fields)
    shared = " and ".join(f"`{name.upper()}`" for name in store)
    return "\n\n".join(
        [
            "The service (`python -m service`):",
            _table(header, _settings_rows(ServiceSettings)),
            f"The training command (`python -m train`) reads the store's {shared} and:",
            _table(header, _settings_rows(TrainSettings, skip=store)),
        ]
    )


def _subclasses(cls: type[ServiceError]) -> Iterator[type[ServiceError]]:
    """Every subclass, parents before their children."""
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def problem_types_table() -> str:
    """One row per problem type the API can answer with, discovered from the error classes
    the app imports (they are defined beside the code that raises them)."""
    import service.app  # noqa: F401  (imports every module that defines a problem type)

    rows: dict[str, tuple[int, list[str]]] = {}
    for error in _subclasses(ServiceError):
        if issubclass(error, RoutingError):
            continue
        # A subclass that keeps its parent's type (a narrower cause) shares the parent's row.
        rows.setdefault(
            error.type,
            (error.status, [str(error.status), f"`{error.type}`", error.title, error.description]),
        )
    routed = [RoutingError(status, "") for status in ROUTING_STATUSES]
    rows.setdefault(
        RoutingError.type,
        (
            routed[0].status,
            [
                ", ".join(str(error.status) for error in routed),
                f"`{RoutingError.type}`",
                " / ".join(error.title for error in routed),
                RoutingError.description,
            ],
        ),
    )
    ordered = sorted(rows.items(), key=lambda item: (item[1][0], item[0]))
    return _table(("status", "type", "title", "meaning"), [row for _, (_, row) in ordered])


# Marker name -> the page holding it and what renders it.
GENERATED: Final[dict[str, tuple[Path, Callable[[], str]]]] = {
    "settings": (DOCS / "settings.md", settings_tables),
    "problem-types": (DOCS / "api.md", problem_types_table),
}


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with the block between `name`'s markers replaced by `content`."""
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"expected one {begin} ... {end} block")
    return pattern.sub(lambda _: f"{begin}\n{content}\n{end}", text)


def rendered() -> dict[Path, str]:
    """Each page as it should read, with every table rendered afresh."""
    pages: dict[Path, str] = {}
    for name, (page, render) in GENERATED.items():
        try:
            pages[page] = replace_block(pages.get(page) or page.read_text(), name, render())
        except ValueError as error:
            raise ValueError(f"{page.relative_to(PROJECT_ROOT).as_posix()}: {error}") from error
    return pages


def stale_files() -> list[str]:
    """The pages whose generated tables differ from the code, relative to the checkout."""
    return [
        page.relative_to(PROJECT_ROOT).as_posix()
        for page, text in rendered().items()
        if page.read_text() != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"{name}: {STALE_ADVICE}", file=sys.stderr)
        return 1 if stale else 0
    for page, text in rendered().items():
        if page.read_text() != text:
            page.write_text(text)
            print(f"wrote {page.relative_to(PROJECT_ROOT).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
