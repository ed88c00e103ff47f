"""Rows of the real data set (DATA_PATH), for the slow tests and `make bench`: read when
called, never at import, so the fast selection collects without the file."""

from typing import Any

import numpy as np
import pandas as pd

from schemas import FEATURE_NAMES, CustomerFeatures
from schemas.features import DATASET_COLUMNS
from train.settings import TrainSettings

# The fields a JSON body carries as integers (the rest are numbers that may have a fraction).
INT_FIELDS = {
    name for name, field in CustomerFeatures.model_fields.items() if field.annotation is int
}


def as_bodies(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature rows (columns in FEATURE_NAMES order) as the API bodies a client sends."""
    return [
        {name: int(value) if name in INT_FIELDS else float(value) for name, value in row.items()}
        for row in features.to_dict("records")
    ]


def customers_from_data(count: int, seed: int = 0) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """`count` varied real rows (sampled with replacement) as a matrix and as API bodies."""
    frame = pd.read_csv(TrainSettings().data_path)
    frame = frame.sample(n=count, replace=True, random_state=seed)
    features = frame[list(DATASET_COLUMNS)].rename(columns=DATASET_COLUMNS)[list(FEATURE_NAMES)]
    return features.to_numpy(dtype=np.float64), as_bodies(features)
