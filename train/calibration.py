"""Choosing the calibration method by cross-validated Brier score.

The forest's out-of-fold scores are computed once (train.training); here each candidate
calibrator is fitted on the scores of k-1 folds and judged on the held-out fold, using
scikit-learn's own calibrators through `CalibratedClassifierCV`, so the winner is the very
method the final `CalibratedClassifierCV` will apply.

"none" (the forest's own probabilities) competes too. A well-tuned forest on this data is
already close to calibrated, and there isotonic regression lowered no score: it served
probabilities of exactly 0 and 1 (one of 27 held-out customers given 0 did default) and
collapsed the forest's scores to a few dozen distinct values. Calibration has to earn its
place on the same evidence as every other choice.

Isotonic regression is scored and reported but cannot win: it is a step function, so the
compiled model's float32 forest scores (within 1e-6 of scikit-learn's) can land on the
other side of a step and jump by a whole step (0.019 seen on a quick model), which the
compiled-form check rightly refuses. Sigmoid calibration is smooth and compiles faithfully.
"""

from typing import Final

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import BaseCrossValidator, cross_val_predict

METHODS: Final = ("sigmoid", "isotonic")
NO_CALIBRATION: Final = "none"
ELIGIBLE: Final = (NO_CALIBRATION, "sigmoid")


class PrecomputedScore(ClassifierMixin, BaseEstimator):
    """A "classifier" whose score is its single input column.

    The scores it is given are already out-of-fold forest probabilities, so calibrating
    this identity is calibrating the forest, without refitting the forest per fold.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> "PrecomputedScore":
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        score = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1.0 - score, score])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def calibrated_out_of_fold(
    scores: np.ndarray, y: np.ndarray, method: str, folds: BaseCrossValidator
) -> np.ndarray:
    calibrator = CalibratedClassifierCV(PrecomputedScore(), method=method, cv=2, ensemble=False)
    return cross_val_predict(
        calibrator, scores.reshape(-1, 1), y, cv=folds, method="predict_proba"
    )[:, 1]


def choose_calibration(
    scores: np.ndarray, y: np.ndarray, folds: BaseCrossValidator
) -> tuple[str, dict[str, float], np.ndarray]:
    """Return the eligible method with the lowest CV Brier ("none" included), every
    method's Brier (isotonic's for the record) and the winner's out-of-fold probabilities."""
    calibrated = {NO_CALIBRATION: scores}
    for method in METHODS:
        calibrated[method] = calibrated_out_of_fold(scores, y, method, folds)
    brier = {method: float(brier_score_loss(y, proba)) for method, proba in calibrated.items()}
    best = min(ELIGIBLE, key=brier.__getitem__)
    return best, brier, calibrated[best]
