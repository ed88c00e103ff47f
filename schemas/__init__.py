"""The contract: the 23 customer features, their meaning and rules, and the API bodies."""

from schemas.api import (
    MAX_BATCH_SIZE,
    BatchPrediction,
    BatchRequest,
    FieldError,
    Health,
    ModelDetails,
    ModelList,
    ModelSummary,
    Prediction,
    Problem,
    ReloadResult,
    ScoredCustomer,
)
from schemas.features import DATASET_COLUMNS, EXAMPLE_CUSTOMER, FEATURE_NAMES, CustomerFeatures

__all__ = [
    "DATASET_COLUMNS",
    "EXAMPLE_CUSTOMER",
    "FEATURE_NAMES",
    "MAX_BATCH_SIZE",
    "BatchPrediction",
    "BatchRequest",
    "CustomerFeatures",
    "FieldError",
    "Health",
    "ModelDetails",
    "ModelList",
    "ModelSummary",
    "Prediction",
    "Problem",
    "ReloadResult",
    "ScoredCustomer",
]
