"""The contract shared by training and serving: features, their rules, and API bodies."""

from schemas.api import (
    MAX_BATCH_SIZE,
    BatchPrediction,
    BatchRequest,
    CompiledArtifact,
    DataProvenance,
    DecisionThreshold,
    FieldError,
    Health,
    LibraryVersions,
    ModelDetails,
    ModelList,
    ModelManifest,
    ModelSummary,
    Prediction,
    Problem,
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
    "CompiledArtifact",
    "CustomerFeatures",
    "DataProvenance",
    "DecisionThreshold",
    "FieldError",
    "Health",
    "LibraryVersions",
    "ModelDetails",
    "ModelList",
    "ModelManifest",
    "ModelSummary",
    "Prediction",
    "Problem",
    "ScoredCustomer",
]
