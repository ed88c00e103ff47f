"""Loading the UCI "default of credit card clients" data and checking it against the contract.

Every row is validated with the very model the API uses (`CustomerFeatures`), so the model
is trained only on inputs the service would accept. Rows that break a rule are counted by
reason, reported and recorded in the model's manifest; if more than 1% of rows break the
contract the file is not taken to be this data set and training stops.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.model_selection import train_test_split

from model_store import sha256_of
from model_store.manifest import DataProvenance
from schemas.features import DATASET_COLUMNS, FEATURE_NAMES, CustomerFeatures

# The Kaggle CSV layout names the target with dots, the original UCI .xls with spaces.
TARGET_COLUMNS: Final = ("default.payment.next.month", "default payment next month")
MAX_REJECTED_SHARE: Final = 0.01
EXCEL_SUFFIXES: Final = (".xls", ".xlsx")
SOURCE: Final = (
    'the UCI Machine Learning Repository data set "default of credit card clients" '
    "(Yeh & Lien, 2009), as the common CSV layout UCI_Credit_Card.csv or the original .xls"
)


class DatasetError(Exception):
    """The file is missing, unreadable, or not this data set."""


def missing_data_message(path: Path) -> str:
    return (
        f"Training data not found at {path}.\n"
        f"The model is trained on {SOURCE}.\n"
        "Point the DATA_PATH setting (environment variable or .env) or the --data option "
        "at your copy of it, for example:\n"
        "  DATA_PATH=/data/UCI_Credit_Card.csv make run"
    )


@dataclass(frozen=True)
class Dataset:
    """Validated feature matrix (columns in FEATURE_NAMES order), labels and provenance."""

    X: np.ndarray
    y: np.ndarray
    provenance: DataProvenance


def _read_excel(path: Path) -> pd.DataFrame:
    """Read the original UCI workbook: a row X1..X23/Y above the row of column names."""
    head = pd.read_excel(path, header=None, nrows=3, engine="calamine")
    header_row = next(
        (i for i in range(len(head)) if "LIMIT_BAL" in set(head.iloc[i].astype(str))), None
    )
    if header_row is None:
        raise DatasetError(
            f"{path}: no header row with LIMIT_BAL in the first rows; expected {SOURCE}"
        )
    # A workbook stores every number as a float; the contract takes a whole float for an
    # integer field (2.0 is 2) and still rejects fractional codes, so no conversion here.
    return pd.read_excel(path, header=header_row, dtype_backend="numpy_nullable", engine="calamine")


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(missing_data_message(path))
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            return _read_excel(path)
        return pd.read_csv(path, dtype_backend="numpy_nullable")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DatasetError(f"{path} could not be read as {SOURCE}: {error}") from error


# Columns `python -m service.decisions export --with-outcomes` adds to the data set's.
EXPORT_PROVENANCE: Final = ("request_id", "model_version", "decided_at", "observed_at")


def _origin(frame: pd.DataFrame) -> str | None:
    """Where the rows came from, when a decision-log export says so."""
    if not set(EXPORT_PROVENANCE) <= set(frame.columns):
        return None
    versions = sorted(str(v) for v in frame["model_version"].dropna().unique())
    decided = frame["decided_at"].dropna().astype(str)
    return (
        f"decision log export (python -m service.decisions export --with-outcomes): "
        f"{len(frame)} decisions of model version(s) {', '.join(versions)}, decided "
        f"{decided.min()} to {decided.max()}, outcomes as the target"
    )


def load_dataset(path: Path) -> Dataset:
    frame = read_table(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    target_column = next((c for c in TARGET_COLUMNS if c in frame.columns), None)
    missing = [c for c in DATASET_COLUMNS if c not in frame.columns]
    if missing or target_column is None:
        raise DatasetError(
            f"{path} is not {SOURCE}: missing columns "
            f"{missing + ([] if target_column else [' or '.join(TARGET_COLUMNS)])}"
        )
    if frame.empty:
        raise DatasetError(f"{path} has a header but no rows")

    features = frame[list(DATASET_COLUMNS)].rename(columns=DATASET_COLUMNS)
    reasons: Counter[str] = Counter()
    valid = np.ones(len(frame), dtype=bool)
    for index, record in enumerate(features.to_dict("records")):
        try:
            CustomerFeatures.model_validate(record)
        except ValidationError as error:
            valid[index] = False
            for problem in error.errors():
                reasons[f"{problem['loc'][0]}: {problem['msg']}"] += 1

    target = frame[target_column]
    target_ok = target.isin([0, 1]).fillna(False).to_numpy(dtype=bool)
    reasons["target: should be 0 or 1"] += int((~target_ok).sum())
    valid &= target_ok
    reasons = Counter({reason: count for reason, count in reasons.items() if count})

    rejected = int((~valid).sum())
    if rejected > MAX_REJECTED_SHARE * len(frame):
        summary = "; ".join(f"{reason} ({count} rows)" for reason, count in reasons.most_common(5))
        raise DatasetError(
            f"{path}: {rejected} of {len(frame)} rows break the feature contract, more than "
            f"{MAX_REJECTED_SHARE:.0%}; this does not look like {SOURCE}. Most common: {summary}"
        )

    X = features[list(FEATURE_NAMES)].to_numpy(dtype=np.float64, na_value=np.nan)[valid]
    y = target.to_numpy(dtype=np.int64, na_value=-1)[valid]
    provenance = DataProvenance(
        file_name=path.name,
        sha256=sha256_of(path),
        rows=len(frame),
        rows_used=int(valid.sum()),
        rows_rejected=rejected,
        rejected_reasons=dict(reasons),
        origin=_origin(frame),
    )
    return Dataset(X=X, y=y, provenance=provenance)


HOLDOUT_SHARE: Final = 0.2


def holdout_split(
    dataset: Dataset, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stratified 80/20 split shared by search and training: the 20% is never fitted."""
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=HOLDOUT_SHARE, stratify=dataset.y, random_state=seed
    )
    return X_train, X_test, y_train, y_test


def subsample(dataset: Dataset, rows: int, seed: int) -> Dataset:
    """A stratified sample, for fast tests on a small slice of the real data."""
    if rows >= len(dataset.y):
        return dataset
    X, _, y, _ = train_test_split(
        dataset.X, dataset.y, train_size=rows, stratify=dataset.y, random_state=seed
    )
    provenance = dataset.provenance.model_copy(update={"rows_used": rows})
    return Dataset(X=X, y=y, provenance=provenance)
