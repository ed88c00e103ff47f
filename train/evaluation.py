"""Held-out metrics, calibration error and the decision threshold."""

from typing import Final

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from model_store.manifest import HeldOutMetrics
from model_store.metrics import expected_calibration_error
from model_store.scoring import decide

THRESHOLD_RULE: Final = "maximum F1 on the out-of-fold probabilities of the training split"


def max_f1_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(y, proba)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    # precision/recall have one more entry than thresholds (the "predict nothing" end).
    return float(thresholds[int(np.argmax(f1[:-1]))])


def evaluate(y: np.ndarray, proba: np.ndarray, threshold: float) -> HeldOutMetrics:
    decision = decide(proba, threshold)
    metrics = {
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
        "brier": float(brier_score_loss(y, proba)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15))),
        "ece": expected_calibration_error(y, proba),
        "accuracy": float(accuracy_score(y, decision)),
        "precision": float(precision_score(y, decision, zero_division=0)),
        "recall": float(recall_score(y, decision, zero_division=0)),
        "f1": float(f1_score(y, decision, zero_division=0)),
        "threshold": float(threshold),
        "rows": len(y),
    }
    return HeldOutMetrics(**metrics)
