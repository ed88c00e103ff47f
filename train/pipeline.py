"""How the model is assembled: cleaning, engineered features, forest."""

from typing import Any, Final

from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from train.transformers import (
    CategoryCleaner,
    FeatureEngineer,
    monotone_inputs,
    monotonic_constraints,
)

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
    monotone: bool = False,
) -> Pipeline:
    """Cleaning + features + an uncalibrated forest; what cross-validation scores.

    `monotone`: the model's risk never falls when a repayment status moves one month
    later. The statuses reach the forest only as months late (held to raise the risk) and
    their states (`train.transformers.monotone_inputs`), and scikit-learn's monotonic
    constraints hold every tree to it."""
    if monotone:
        feature_groups, left_out = monotone_inputs(tuple(feature_groups))
        excluded = (*excluded, *left_out)
    features = FeatureEngineer(groups=tuple(feature_groups), excluded=tuple(excluded))
    constraints = (
        {"monotonic_cst": monotonic_constraints(list(features.get_feature_names_out()))}
        if monotone
        else {}
    )
    forest = RandomForestClassifier(random_state=seed, n_jobs=-1, **forest_params, **constraints)
    return Pipeline([("clean", CategoryCleaner()), ("features", features), ("forest", forest)])


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
