"""Progress bars for long steps and the closing summary table (rich, on stderr/stdout)."""

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# soft_wrap: a message stays on one line whatever the width, so logs can be grepped
# (rich would otherwise break it at 80 columns when stderr is not a terminal).
console = Console(stderr=True, soft_wrap=True)
report = Console()


@contextmanager
def progress() -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description:<38}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        yield bar


def metrics_table(title: str, columns: dict[str, BaseModel], rows: list[str]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(row, *(f"{getattr(values, row):.4f}" for values in columns.values()))
    return table
