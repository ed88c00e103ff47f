"""A risk that never falls as payments fall behind: the leaf calibration that keeps a
monotone forest's probabilities honest, and the proof on the compiled model.

scikit-learn holds each tree of a constrained forest to its monotonic constraints by
bounding its nodes' values between their siblings' while it grows. That keeps the order,
but it pulls many leaves towards the middle: the forest's probabilities come out
compressed and too low (measured on the training split: out-of-fold Brier 0.1366 against
0.1338 unconstrained, mean probability under the default rate). A calibration applied
after the forest would break the explanation (the reasons add up to the forest's own
probability), so the correction goes inside every tree: each leaf's value v becomes
g(v) = sigmoid(a + b * logit(v)), with b > 0. g rises, so each tree, and so the forest,
keeps its monotonicity; the trees are still trees, so TreeSHAP stays exact. a and b are
fitted on the training split only, to minimise the out-of-fold Brier score of the forest
built from calibrated trees.
"""

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.ensemble import RandomForestClassifier

from model_store.runtime import CompiledModel
from schemas.features import FEATURE_NAMES

CLIP: Final = 1e-6  # leaf values are held inside (0, 1) before the logit
# The month-late codes a status moves between: 0 (revolving) -> 1, and k -> k + 1.
LATE_MOVES: Final = tuple((k, k + 1) for k in range(0, 9))
STATUS_COLUMNS: Final = tuple(
    FEATURE_NAMES.index(f"pay_{m}") for m in (0, 2, 3, 4, 5, 6)
)  # fmt: skip


class MonotonicityRefusedError(Exception):
    """The compiled model lowers the risk for a later payment: no version is saved."""


@dataclass(frozen=True)
class LeafCalibration:
    """g(v) = sigmoid(a + b * logit(v)), applied to every leaf of every tree."""

    a: float
    b: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return expit(self.a + self.b * logit(np.clip(values, CLIP, 1 - CLIP)))

    @classmethod
    def fit(cls, tree_scores: np.ndarray, y: np.ndarray) -> "LeafCalibration":
        """The a and b (b > 0) that minimise the Brier score of the mean of calibrated
        trees, from each tree's out-of-fold probability (rows x trees)."""

        def brier(theta: np.ndarray) -> float:
            a, log_b = theta
            return float(np.mean((cls(a, np.exp(log_b))(tree_scores).mean(axis=1) - y) ** 2))

        found = minimize(brier, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-6})
        return cls(float(found.x[0]), float(np.exp(found.x[1])))

    def apply(self, forest: RandomForestClassifier) -> None:
        """Recalibrate every leaf of the fitted forest in place."""
        for estimator in forest.estimators_:
            tree = estimator.tree_
            leaves = tree.children_left == -1
            value = tree.value  # a view of the tree's own array: writes change the tree
            positive = self(value[leaves, 0, 1])
            value[leaves, 0, 1] = positive
            value[leaves, 0, 0] = 1.0 - positive


@dataclass(frozen=True)
class DelayEvidence:
    """What moving one repayment status one month later does to the compiled model."""

    moves: int  # row x status pairs moved (only statuses in 0..8 can move)
    lowered: int  # moves after which the probability fell
    largest_fall: float  # the most the probability fell (0 when it never did)
    largest_rise: float


def delay_evidence(model: CompiledModel, X: np.ndarray) -> DelayEvidence:
    """Every row of X, every status in 0..8 moved one month later, scored by the very
    bytes that serve: how often, and by how much, the probability fell."""
    before = model.predict_proba(X)
    moves = lowered = 0
    largest_fall = largest_rise = 0.0
    for column in STATUS_COLUMNS:
        movable = np.isin(X[:, column], [low for low, _ in LATE_MOVES])
        if not movable.any():
            continue
        moved = X[movable].copy()
        moved[:, column] += 1
        change = model.predict_proba(moved) - before[movable]
        moves += int(movable.sum())
        lowered += int(np.count_nonzero(change < 0))
        largest_fall = max(largest_fall, float(-change.min()))
        largest_rise = max(largest_rise, float(change.max()))
    return DelayEvidence(moves, lowered, max(largest_fall, 0.0), max(largest_rise, 0.0))
