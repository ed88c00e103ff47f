"""The customer contract applied to whole columns of text, for files of millions of rows.

Validating row by row with pydantic costs microseconds a row; a 3,000,000-row file wants
column operations. The rules are not restated here: they are read from
`CustomerFeatures`' JSON schema (type, minimum, maximum, exclusive minimum), and any row
that fails is handed to `CustomerFeatures` itself for the authoritative message, so a file
row is accepted exactly when the API would accept the same values.
"""

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from pydantic import ValidationError

from schemas.features import FEATURE_NAMES, CustomerFeatures

_PROPERTIES: Final = CustomerFeatures.model_json_schema()["properties"]


@dataclass(frozen=True)
class CheckedColumns:
    """Feature matrix (rows in file order, FEATURE_NAMES columns), which rows are valid,
    and the reason for each invalid row."""

    X: np.ndarray
    valid: np.ndarray
    errors: dict[int, str]


def _parse(name: str, text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 and whether each one meets the field's rules."""
    rule = _PROPERTIES[name]
    if pd.api.types.is_numeric_dtype(text) and not pd.api.types.is_bool_dtype(text):
        # typed columns (Parquet): the numbers as stored, no round trip through text
        values = text.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        stripped = text.fillna("").astype(str).str.strip()
        values = pd.to_numeric(stripped, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    ok = np.isfinite(values)
    if rule["type"] == "integer":  # whole numbers, however written (2, 2.0, 2e0)
        with np.errstate(invalid="ignore"):
            ok &= np.floor(values) == values
    with np.errstate(invalid="ignore"):
        if "minimum" in rule:
            ok &= values >= rule["minimum"]
        if "exclusiveMinimum" in rule:
            ok &= values > rule["exclusiveMinimum"]
        if "maximum" in rule:
            ok &= values <= rule["maximum"]
    return values, ok


def as_json_value(name: str, raw: Any) -> Any:
    """The value a JSON client would send for this cell, parsed exactly as `_parse` does:
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


def check_columns(text: pd.DataFrame) -> CheckedColumns:
    """Validate a frame whose columns are the lower-case feature names: text cells (CSV)
    or numbers (Parquet), by the same rules."""
    missing = [name for name in FEATURE_NAMES if name not in text.columns]
    if missing:
        raise ValueError(f"missing columns: {', '.join(m.upper() for m in missing)}")
    columns, masks = [], []
    for name in FEATURE_NAMES:
        values, ok = _parse(name, text[name])
        columns.append(values)
        masks.append(ok)
    X = np.column_stack(columns)
    valid = np.logical_and.reduce(masks)
    errors = {
        int(i): _reason(text.iloc[i][list(FEATURE_NAMES)].to_dict()) for i in np.flatnonzero(~valid)
    }
    return CheckedColumns(X=X, valid=valid, errors=errors)
