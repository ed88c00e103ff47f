"""The customer contract applied to whole columns of text, for files of millions of rows.

Validating row by row with pydantic costs microseconds a row; a 3,000,000-row file wants
column operations. Cells become numbers here; the rules are the contract's own column
checks (`schemas.columns`, read from `CustomerFeatures`' JSON schema), and any row that
fails is handed to `CustomerFeatures` itself for the authoritative message, so a file
row is accepted exactly when the API would accept the same values.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import ValidationError

from schemas.columns import normalise_integer_zeros, rows_meeting_rules
from schemas.features import FEATURE_NAMES, CustomerFeatures


@dataclass(frozen=True)
class CheckedColumns:
    """Feature matrix (rows in file order, FEATURE_NAMES columns), which rows are valid,
    and the reason for each invalid row."""

    X: np.ndarray
    valid: np.ndarray
    errors: dict[int, str]


def _numbers_from_text(cells: pd.Series | np.ndarray) -> np.ndarray:
    """Text cells (CSV) as float64, NaN where no number: pandas' own parser, which is what
    the contract means by a number in a file, for both engines."""
    stripped = pd.Series(cells).fillna("").astype(str).str.strip()
    return pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _numbers(cells: pd.Series | np.ndarray) -> np.ndarray:
    """Cells as float64: numbers as stored (a float64 array, NaN where missing), or text."""
    if isinstance(cells, np.ndarray) and cells.dtype == np.float64:
        return cells  # typed columns (Parquet): the numbers as stored, no text round trip
    return _numbers_from_text(cells)


def as_json_value(name: str, raw: Any) -> Any:
    """The value a JSON client would send for this cell, parsed exactly as `_numbers` does:
    any number pandas reads, else the text itself (which the contract then rejects with
    its own message)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    text = str(raw).strip()
    number = pd.to_numeric(pd.Series([text]), errors="coerce").iloc[0]
    return text if pd.isna(number) else float(number)


def _reason(row: dict[str, Any]) -> str:
    try:
        CustomerFeatures.model_validate({n: as_json_value(n, row.get(n)) for n in FEATURE_NAMES})
    except ValidationError as error:
        return "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
    return "rejected by the column checks"  # pragma: no cover - the two checks agree (tested)


def _check(
    cells: Mapping[str, pd.Series | np.ndarray], row: Callable[[int], dict[str, Any]]
) -> CheckedColumns:
    """The checks themselves, whatever holds the cells: `cells` by feature name (see
    `_numbers`), and `row(i)` the raw cells of row i, for the contract's own message."""
    X = np.column_stack([_numbers(cells[name]) for name in FEATURE_NAMES])
    valid = rows_meeting_rules(X)
    normalise_integer_zeros(X)
    errors = {int(i): _reason(row(int(i))) for i in np.flatnonzero(~valid)}
    return CheckedColumns(X=X, valid=valid, errors=errors)


def _require(names: Iterable[str]) -> None:
    present = set(names)
    missing = [name for name in FEATURE_NAMES if name not in present]
    if missing:
        raise ValueError(f"missing columns: {', '.join(m.upper() for m in missing)}")


def _frame_cells(column: pd.Series) -> pd.Series | np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column


def check_columns(text: pd.DataFrame) -> CheckedColumns:
    """Validate a frame whose columns are the lower-case feature names: text cells (CSV)
    or numbers (Parquet), by the same rules."""
    _require(text.columns)
    return _check(
        {name: _frame_cells(text[name]) for name in FEATURE_NAMES},
        lambda i: text.iloc[i][list(FEATURE_NAMES)].to_dict(),
    )


def _arrow_cells(column: pa.Array) -> np.ndarray:
    """Integer and floating columns as float64 (null as NaN), as `_frame_cells` reads
    them; any other type as objects, parsed as text (bool, decimal and dates included,
    as pandas would hold them)."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return column.to_numpy(zero_copy_only=False).astype(object, copy=False)


def check_arrays(columns: Mapping[str, pa.Array]) -> CheckedColumns:
    """`check_columns` for Arrow arrays by feature name (an Arrow batch, as Spark hands
    it over): the same rules and messages, with no pandas frame built for typed columns."""
    _require(columns)
    return _check(
        {name: _arrow_cells(columns[name]) for name in FEATURE_NAMES},
        lambda i: {name: columns[name][i].as_py() for name in FEATURE_NAMES},
    )
