"""Which format a path holds or should hold: CSV or Parquet, by its extension."""

from pathlib import Path
from typing import Final, Literal

FORMATS: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

Format = Literal["csv", "parquet"]


def file_format(path: Path) -> Format:
    """`csv` or `parquet` from the extension; a directory without one (Spark's parts) is
    Parquet when it holds Parquet parts."""
    found = FORMATS.get(path.suffix.lower())
    if found is not None:
        return found  # type: ignore[return-value]
    if path.is_dir() and any(path.glob("*.parquet")):
        return "parquet"
    raise ValueError(f"{path}: name a .csv or .parquet file (or a directory of Parquet parts)")
