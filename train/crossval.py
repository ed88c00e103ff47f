"""Out-of-fold scoring, fold by fold, so long fits can report progress."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from train.pipeline import forests_of, make_single_threaded


def stratified_folds(n_folds: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)


@dataclass(frozen=True)
class OutOfFold:
    """Each row's probability from a model that never saw it, each fold's ROC AUC and,
    when asked for, each tree's own probability for the row (rows x trees)."""

    scores: np.ndarray
    fold_auc: list[float]
    tree_scores: np.ndarray | None = None


def out_of_fold(
    pipeline: Pipeline,
    X: np.ndarray,
    y: np.ndarray,
    folds: StratifiedKFold,
    on_fold: Callable[[], None] = lambda: None,
    per_tree: bool = False,
) -> OutOfFold:
    """Out-of-fold scores of `pipeline` (a cleaning and features pipeline ending in a
    forest).

    Forests fit on all cores but score on one: a parallel predict_proba sums the trees'
    votes in whatever order threads finish, which changes the last bits of the result and
    would make "same data + same seed = same metrics" false.
    """
    scores = np.empty(len(y), dtype=np.float64)
    trees = None
    fold_auc = []
    for fit_rows, score_rows in folds.split(X, y):
        model = make_single_threaded(clone(pipeline).fit(X[fit_rows], y[fit_rows]))
        scores[score_rows] = model.predict_proba(X[score_rows])[:, 1]
        if per_tree:
            forest = forests_of(model)[0]
            if trees is None:
                trees = np.empty((len(y), len(forest.estimators_)), dtype=np.float64)
            inputs = Pipeline(model.steps[:-1]).transform(X[score_rows])
            for t, estimator in enumerate(forest.estimators_):
                trees[score_rows, t] = estimator.predict_proba(inputs)[:, 1]
        fold_auc.append(float(roc_auc_score(y[score_rows], scores[score_rows])))
        on_fold()
    return OutOfFold(scores, fold_auc, trees)


def out_of_fold_scores(
    pipeline: Pipeline,
    X: np.ndarray,
    y: np.ndarray,
    folds: StratifiedKFold,
    on_fold: Callable[[], None] = lambda: None,
) -> tuple[np.ndarray, list[float]]:
    """Each row's probability from a model that never saw it, and each fold's ROC AUC."""
    found = out_of_fold(pipeline, X, y, folds, on_fold)
    return found.scores, found.fold_auc
