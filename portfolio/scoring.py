"""Scoring one frame of a portfolio: the step both engines share.

The local engine calls `score_frame` on each pandas chunk of a file, Spark calls
`score_batch` on each Arrow batch inside `mapInArrow` (no pandas conversion either way
on its hot path). Both are thin shells around `score_checked`: a row is checked by the
same rules (`portfolio.columns`) and scored by the same call, `Predictor.score`, that
serves `/predict`; that is what makes the engines agree bit for bit with each other and
with the API, decisions and reasons included.

A frame keeps all its columns (an `ID`, the target, anything else passes through) and
gains `probability`, `default`, `score` (points), `grade` and `model_version`, plus
`reason_1` .. `reason_4` when reasons are asked for. A row that breaks the contract is
never scored: its `error` names each field and rule, as the API would.
"""

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from model_store.runtime import Predictor
from portfolio.columns import CheckedColumns, check_arrays, check_columns
from schemas.features import DATASET_COLUMNS, FEATURE_NAMES
from schemas.reasons import MAX_REASONS

SCORE_COLUMNS: Final = ("probability", "default", "score", "grade", "model_version")
REASON_COLUMNS: Final = tuple(f"reason_{k}" for k in range(1, MAX_REASONS + 1))
ERROR_COLUMN: Final = "error"
ROW_COLUMN: Final = "row"  # names a rejected row where the input has no ID
LISTED_REJECTS: Final = 20  # bad rows named when a run stops on them


def feature_columns(columns: list[str]) -> dict[str, str]:
    """Input column -> feature name, for the data set's layout (LIMIT_BAL ... PAY_AMT6,
    any case); refuses an input that lacks a feature or already has an output column."""
    found = {}
    for column in columns:
        name = DATASET_COLUMNS.get(column.strip().upper())
        if name is not None:
            found[column] = name
    missing = [n.upper() for n in FEATURE_NAMES if n not in found.values()]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    clashing = [c for c in columns if c in (*SCORE_COLUMNS, *REASON_COLUMNS, ERROR_COLUMN)]
    if clashing:
        raise ValueError(f"the input already has output columns: {', '.join(clashing)}")
    return found


def output_columns(columns: list[str], explain: bool) -> list[str]:
    return [*columns, *SCORE_COLUMNS, *(REASON_COLUMNS if explain else ()), ERROR_COLUMN]


@dataclass(frozen=True)
class BatchScores:
    """Every row's results, in input order, as plain arrays that either engine turns into
    its own columns. A row that broke the contract (`valid` False) holds placeholders in
    `default` and `points`, NaN in `probability`, no grade or reasons, and its `error`."""

    valid: np.ndarray  # bool
    probability: np.ndarray  # float64, NaN where not valid
    default: np.ndarray  # bool
    points: np.ndarray  # int64
    grade: np.ndarray | None  # int64; None for versions without a master scale
    reasons: np.ndarray | None  # rows x MAX_REASONS codes, None where none; only when asked
    error: np.ndarray  # object: None for scored rows, else each broken rule
    version: str


def score_checked(checked: CheckedColumns, predictor: Predictor, explain: bool) -> BatchScores:
    """The scoring step proper: the valid rows through `Predictor.score` (the call that
    serves `/predict`), its results put back in each row's place."""
    rows = len(checked.valid)
    valid = checked.valid
    probability = np.full(rows, np.nan)
    default = np.zeros(rows, dtype=bool)
    points = np.zeros(rows, dtype=np.int64)
    grade = None if predictor.manifest.master_scale is None else np.zeros(rows, dtype=np.int64)
    reasons = np.full((rows, MAX_REASONS), None, dtype=object) if explain else None
    if valid.any():
        scored = predictor.score(checked.X[valid], explain)
        probability[valid] = scored.probabilities
        default[valid] = scored.defaults
        points[valid] = scored.points
        if grade is not None and scored.grades is not None:
            grade[valid] = scored.grades
        if reasons is not None and scored.reasons is not None:
            for row, codes in zip(np.flatnonzero(valid), scored.reasons.codes, strict=True):
                reasons[row, : len(codes)] = codes
    error = np.full(rows, None, dtype=object)
    for index, reason in checked.errors.items():
        error[index] = reason
    return BatchScores(
        valid, probability, default, points, grade, reasons, error, predictor.version
    )


def score_frame(frame: pd.DataFrame, predictor: Predictor, explain: bool) -> pd.DataFrame:
    """The frame with the score columns and `error` (empty for scored rows) appended: the
    local engine's chunks."""
    names = feature_columns(list(frame.columns))
    text = pd.DataFrame({name: frame[column] for column, name in names.items()})
    scores = score_checked(check_columns(text.reset_index(drop=True)), predictor, explain)
    missing = ~scores.valid
    out = frame.reset_index(drop=True).copy()
    out["probability"] = scores.probability
    out["default"] = pd.arrays.BooleanArray(scores.default, missing)
    out["score"] = pd.arrays.IntegerArray(scores.points, missing)
    if scores.grade is None:  # a version without a master scale: no row has a grade
        out["grade"] = pd.array([None] * len(out), dtype="Int64")
    else:
        out["grade"] = pd.arrays.IntegerArray(scores.grade, missing)
    out["model_version"] = scores.version
    if scores.reasons is not None:
        for k, column in enumerate(REASON_COLUMNS):
            out[column] = scores.reasons[:, k]
    out[ERROR_COLUMN] = scores.error
    return out


def _nan_as_null(column: pa.Array) -> pa.Array:
    """A floating column's NaN as null, as a pandas round trip (pyarrow's `from_pandas`)
    has always written it, so passed-through columns keep the values they had."""
    if not pa.types.is_floating(column.type) or len(column) == 0:
        return column
    nan = pc.is_nan(column)
    if not pc.any(nan).as_py():
        return column
    return pc.if_else(nan, pa.scalar(None, column.type), column)


def _arrow_score_columns(scores: BatchScores) -> list[tuple[str, pa.Array]]:
    """The score columns and `error` as Arrow arrays (a rejected row's are null), typed as
    the local engine writes them: float64, bool, int64, int64, string."""
    missing = ~scores.valid
    rows = len(missing)
    grade = (
        pa.nulls(rows, pa.int64())
        if scores.grade is None
        else pa.array(scores.grade, pa.int64(), mask=missing)
    )
    columns = [
        ("probability", pa.array(scores.probability, pa.float64(), from_pandas=True)),
        ("default", pa.array(scores.default, pa.bool_(), mask=missing)),
        ("score", pa.array(scores.points, pa.int64(), mask=missing)),
        ("grade", grade),
        ("model_version", pa.repeat(pa.scalar(scores.version, pa.string()), rows)),
    ]
    if scores.reasons is not None:
        for k, name in enumerate(REASON_COLUMNS):
            columns.append((name, pa.array(scores.reasons[:, k].tolist(), pa.string())))
    columns.append((ERROR_COLUMN, pa.array(scores.error, pa.string())))
    return columns


def _check_batch(batch: pa.RecordBatch) -> CheckedColumns:
    names = feature_columns(batch.schema.names)
    return check_arrays({name: batch.column(column) for column, name in names.items()})


def score_batch(batch: pa.RecordBatch, predictor: Predictor, explain: bool) -> pa.RecordBatch:
    """`score_frame` for an Arrow batch (Spark's `mapInArrow`): the input's columns as
    they came, then the score columns and `error`, with no pandas frame on the way for
    typed columns. The same checks and scoring call, so the same values as `score_frame`."""
    added = _arrow_score_columns(score_checked(_check_batch(batch), predictor, explain))
    return pa.RecordBatch.from_arrays(
        [*(_nan_as_null(column) for column in batch.columns), *(a for _, a in added)],
        names=[*batch.schema.names, *(name for name, _ in added)],
    )


def reject_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Only the rows of `batch` that break the contract, with their input columns and
    `error`: `score_batch`'s rows whose `error` is set, less the (null) score columns,
    found by the checks alone. Telling rejects apart costs no scoring, so Spark can count
    and write them in a pass of their own instead of keeping every scored row."""
    checked = _check_batch(batch)
    bad = np.flatnonzero(~checked.valid)
    rows = batch.take(pa.array(bad, pa.int64()))
    error = pa.array([checked.errors[int(i)] for i in bad], pa.string())
    return pa.RecordBatch.from_arrays(
        [*(_nan_as_null(column) for column in rows.columns), error],
        names=[*batch.schema.names, ERROR_COLUMN],
    )
