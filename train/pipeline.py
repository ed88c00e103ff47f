"""How the model is assembled: cleaning, engineered features, forest, calibration."""

from typing import Any, Final

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline

from train.transformers import CategoryCleaner, FeatureEngineer

# The forest of the project this service replaces, trained in every run as the yardstick.
ORIGINAL_FOREST: Final[dict[str, Any]] = {
    "n_estimators": 100,
    "criterion": "entropy",
    "max_features": None,
    "min_samples_leaf": 10,
}


def forest_pipeline(
    forest_params: dict[str, Any],
    feature_groups: tuple[str, ...],
    seed: int,
    excluded: tuple[str, ...] = (),
) -> Pipeline:
    """Cleaning + features + an uncalibrated forest; what cross-validation scores."""
    return Pipeline(
        [
            ("clean", CategoryCleaner()),
            ("features", FeatureEngineer(groups=tuple(feature_groups), excluded=excluded)),
            ("forest", RandomForestClassifier(random_state=seed, n_jobs=-1, **forest_params)),
        ]
    )


def calibrated_pipeline(
    forest_params: dict[str, Any],
    feature_groups: tuple[str, ...],
    method: str,
    folds: BaseCrossValidator,
    seed: int,
    excluded: tuple[str, ...] = (),
) -> Pipeline:
    """The served model: the same steps with the forest wrapped in its calibration.

    `ensemble=False` fits one forest on all training rows and one calibrator on
    out-of-fold scores, so a prediction costs one forest rather than one per fold. The
    folds run in parallel with single-threaded forests: a multi-threaded forest sums its
    trees' votes in thread-completion order, and the calibrator would then see scores
    that differ in their last bits from run to run.
    """
    forest = RandomForestClassifier(random_state=seed, n_jobs=1, **forest_params)
    return Pipeline(
        [
            ("clean", CategoryCleaner()),
            ("features", FeatureEngineer(groups=tuple(feature_groups), excluded=excluded)),
            (
                "classifier",
                CalibratedClassifierCV(forest, method=method, cv=folds, ensemble=False, n_jobs=-1),
            ),
        ]
    )


def make_single_threaded(pipeline: Pipeline) -> Pipeline:
    """Score with one thread per forest: per-tree joblib dispatch makes one-row predictions
    about four times slower on two cores, and a server gets its parallelism from workers."""
    for estimator in forests_of(pipeline):
        estimator.n_jobs = 1
    return pipeline


def forests_of(pipeline: Pipeline) -> list[RandomForestClassifier]:
    """The fitted forests a pipeline scores with: one, calibrated or not."""
    last = pipeline.steps[-1][1]
    if isinstance(last, RandomForestClassifier):
        return [last]
    return [c.estimator for c in last.calibrated_classifiers_]
