"""Progress bars for long steps and the closing summary table (rich, on stderr/stdout)."""

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
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
