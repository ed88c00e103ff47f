"""Store fixtures that need no model: artifact bytes and plausible manifests, for the
tests of the store itself. Light on purpose (no scikit-learn, pandas or training code), so
the child processes of the concurrency tests start in a fraction of a second."""

from datetime import UTC, datetime
from typing import Any

from model_store import ModelStore
from model_store.manifest import (
    Baseline,
    Calibration,
    CompiledArtifact,
    CrossValidation,
    DataProvenance,
    DecisionThreshold,
    ForestParameters,
    HeldOutMetrics,
    Hyperparameters,
    LibraryVersions,
    ModelManifest,
)
from schemas import FEATURE_NAMES, CustomerFeatures


def fake_artifacts(seed: int = 0) -> dict[str, bytes]:
    """Artifact files for store tests: the store handles bytes and never parses them."""
    return {"model.joblib": f"pipeline {seed}".encode(), "model.onnx": f"graph {seed}".encode()}


def _metrics(auc: float, brier: float) -> HeldOutMetrics:
    return HeldOutMetrics(
        roc_auc=auc, pr_auc=0.5, brier=brier, log_loss=0.5, ece=0.01, accuracy=0.8,
        precision=0.5, recall=0.5, f1=0.5, threshold=0.5, rows=60,
    )  # fmt: skip


def manifest_builder(**overrides: Any):
    """A `build_manifest` for ModelStore.save with plausible, fully typed fields."""
    forest = ForestParameters(
        n_estimators=10, criterion="gini", max_features=0.3, min_samples_leaf=50
    )

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        fields: dict[str, Any] = {
            "version": version,
            "created_at": datetime.now(UTC),
            "model_file": "model.joblib",
            "model_sha256": checksums["model.joblib"],
            "compiled": CompiledArtifact(
                file="model.onnx",
                sha256=checksums["model.onnx"],
                engine="onnxruntime test",
                max_abs_difference=0.0,
                verified_rows=60,
            ),
            "data": DataProvenance(
                file_name="x.csv",
                sha256="0" * 64,
                rows=60,
                rows_used=60,
                rows_rejected=0,
                rejected_reasons={},
            ),
            "feature_names": list(FEATURE_NAMES),
            "feature_schema": CustomerFeatures.model_json_schema(),
            "engineered_features": [],
            "hyperparameters": Hyperparameters(forest=forest, feature_groups=[], chosen_by="test"),
            "calibration": Calibration(
                method="none", chosen_by="test", cv_brier={}, wrapper=None, cv_folds=3
            ),
            "cv_results": CrossValidation(
                folds=3,
                roc_auc_per_fold=[0.5, 0.5, 0.5],
                roc_auc_mean=0.5,
                roc_auc_std=0.0,
                train_rows=48,
                holdout_rows=12,
            ),
            "metrics": _metrics(0.5, 0.25),
            "baseline": Baseline(
                description="test", hyperparameters=forest, metrics=_metrics(0.5, 0.25)
            ),
            "threshold": DecisionThreshold(value=0.5, rule="test"),
            "seed": 0,
            "quick": True,
            "training_seconds": 0.0,
            "libraries": LibraryVersions(
                python="3.11",
                scikit_learn="1.0",
                numpy="2.0",
                joblib="1.0",
                pandas="2.0",
                onnxruntime="1.0",
                skl2onnx="1.0",
            ),
        }
        fields.update(overrides)
        return ModelManifest(**fields)

    return build


def save_in_child(root: str, seed: int, queue: Any) -> None:
    """A child process's save, for the concurrency tests (spawned: imports this module)."""
    queue.put(ModelStore(root).save(fake_artifacts(seed), manifest_builder()).version)
