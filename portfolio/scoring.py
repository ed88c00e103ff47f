"""Scoring one frame of a portfolio: the step both engines share.

The local engine calls it on each chunk of a file, Spark on each Arrow batch inside
`mapInPandas`, so a row is checked by the same rules and scored by the same call,
`Predictor.score`, that serves `/predict`; that is what makes the engines agree bit for
bit with each other and with the API, decisions and reasons included.

A frame keeps all its columns (an `ID`, the target, anything else passes through) and
gains `probability`, `default`, `score` (points), `grade` and `model_version`, plus
`reason_1` .. `reason_4` when reasons are asked for. A row that breaks the contract is
never scored: its `error` names each field and rule, as the API would.
"""

from typing import Final

import numpy as np
import pandas as pd

from model_store.runtime import Predictor
from portfolio.columns import check_columns
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


def score_frame(frame: pd.DataFrame, predictor: Predictor, explain: bool) -> pd.DataFrame:
    """The frame with the score columns and `error` (empty for scored rows) appended."""
    names = feature_columns(list(frame.columns))
    text = pd.DataFrame({name: frame[column] for column, name in names.items()})
    checked = check_columns(text.reset_index(drop=True))
    valid = checked.valid
    probability = np.full(len(frame), np.nan)
    default = np.full(len(frame), None, dtype=object)
    points = np.full(len(frame), None, dtype=object)
    grade = np.full(len(frame), None, dtype=object)
    reasons = np.full((len(frame), MAX_REASONS), None, dtype=object)
    if valid.any():
        scored = predictor.score(checked.X[valid], explain)
        probability[valid] = scored.probabilities
        default[valid] = scored.defaults
        points[valid] = scored.points
        if scored.grades is not None:
            grade[valid] = scored.grades
        if scored.reasons is not None:
            for row, codes in zip(np.flatnonzero(valid), scored.reasons.codes, strict=True):
                reasons[row, : len(codes)] = codes
    error = np.full(len(frame), None, dtype=object)
    for index, reason in checked.errors.items():
        error[index] = reason
    out = frame.reset_index(drop=True).copy()
    out["probability"] = probability
    out["default"] = pd.array(default, dtype="boolean")
    out["score"] = pd.array(points, dtype="Int64")
    out["grade"] = pd.array(grade, dtype="Int64")
    out["model_version"] = predictor.version
    if explain:
        for k, column in enumerate(REASON_COLUMNS):
            out[column] = reasons[:, k]
    out[ERROR_COLUMN] = error
    return out
