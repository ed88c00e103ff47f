"""How the model is assembled: cleaning, engineered features, forest."""

from typing import Any, Final

from sklearn.ensemble import RandomForestClassifier
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


def make_single_threaded(pipeline: Pipeline) -> Pipeline:
    """Score with one thread per forest: per-tree joblib dispatch makes one-row predictions
    about four times slower on two cores, and a server gets its parallelism from workers."""
    for estimator in forests_of(pipeline):
        estimator.n_jobs = 1
    return pipeline


def forests_of(pipeline: Pipeline) -> list[RandomForestClassifier]:
    """The fitted forests a pipeline scores with (one: the served model is the forest)."""
    last = pipeline.steps[-1][1]
    if not isinstance(last, RandomForestClassifier):
        raise TypeError(f"expected the pipeline to end in a random forest, got {last!r}")
    return [last]
