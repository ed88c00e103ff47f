"""`python -m train --search`: choose feature groups and forest hyperparameters by CV ROC AUC.

Runs on the training split only (the held-out 20% is never looked at), in two stages:

1. feature groups: the raw 23 columns alone, then each engineered group added on its own,
   then all groups; a group is kept if adding it raises mean CV ROC AUC over the raw
   columns by at least `MIN_GAIN`;
2. a grid over the forest's hyperparameters with the kept groups.

The winner and the whole table are written to train/hyperparameters.json.
"""

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from train.config import CONFIG_PATH, TrainingConfig, save_config
from train.console import console, progress
from train.crossval import out_of_fold_scores, stratified_folds
from train.data import Dataset, holdout_split
from train.pipeline import forest_pipeline
from train.transformers import FEATURE_GROUPS

# Half a standard error of a fold's AUC here is about 0.003; a group must at least pay its
# way by this much to be kept (extra columns cost prediction time).
MIN_GAIN: Final = 0.0005
N_ESTIMATORS: Final = 300
FOREST_GRID: Final[dict[str, list[Any]]] = {
    "criterion": ["gini", "entropy"],
    "max_features": [0.2, 0.3, 0.5],
    "min_samples_leaf": [25, 50, 100, 200],
}
ABLATION_FOREST: Final[dict[str, Any]] = {
    "criterion": "gini",
    "max_features": 0.3,
    "min_samples_leaf": 50,
}


def _row(label: str, fold_auc: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "candidate": label,
        **extra,
        "cv_roc_auc_mean": round(float(np.mean(fold_auc)), 5),
        "cv_roc_auc_std": round(float(np.std(fold_auc)), 5),
    }


def run_search(
    dataset: Dataset, seed: int, n_folds: int, config_path: Path = CONFIG_PATH
) -> TrainingConfig:
    X, _, y, _ = holdout_split(dataset, seed)
    folds = stratified_folds(n_folds, seed)
    group_candidates: list[tuple[str, tuple[str, ...]]] = [
        ("raw columns only", ()),
        *((f"raw + {g}", (g,)) for g in FEATURE_GROUPS),
        ("raw + all groups", tuple(FEATURE_GROUPS)),
    ]
    grid = [
        dict(zip(FOREST_GRID, values, strict=True))
        for values in itertools.product(*FOREST_GRID.values())
    ]

    group_rows: list[dict[str, Any]] = []
    forest_rows: list[dict[str, Any]] = []
    with progress() as bar:
        stage1 = bar.add_task("search: feature groups", total=len(group_candidates) * n_folds)
        for label, groups in group_candidates:
            pipeline = forest_pipeline(
                {**ABLATION_FOREST, "n_estimators": N_ESTIMATORS}, groups, seed
            )
            _, fold_auc = out_of_fold_scores(pipeline, X, y, folds, lambda: bar.advance(stage1))
            group_rows.append(_row(label, fold_auc, feature_groups=list(groups)))

        base = group_rows[0]["cv_roc_auc_mean"]
        kept = [
            row["feature_groups"][0]
            for row in group_rows[1 : 1 + len(FEATURE_GROUPS)]
            if row["cv_roc_auc_mean"] - base >= MIN_GAIN
        ]

        stage2 = bar.add_task("search: forest grid", total=len(grid) * n_folds)
        for params in grid:
            forest = {"n_estimators": N_ESTIMATORS, **params}
            pipeline = forest_pipeline(forest, tuple(kept), seed)
            _, fold_auc = out_of_fold_scores(pipeline, X, y, folds, lambda: bar.advance(stage2))
            forest_rows.append(_row(str(params), fold_auc, forest=forest))

    best = max(forest_rows, key=lambda row: row["cv_roc_auc_mean"])
    console.print(
        f"kept feature groups: {kept or 'none'}; best forest {best['forest']} "
        f"CV ROC AUC {best['cv_roc_auc_mean']:.4f} ± {best['cv_roc_auc_std']:.4f}"
    )
    config = TrainingConfig(
        chosen_by=(
            f"python -m train --search: {n_folds}-fold CV ROC AUC on the training split "
            f"(seed {seed}); groups kept if they add >= {MIN_GAIN} AUC over the raw columns"
        ),
        searched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_sha256=dataset.provenance.sha256,
        seed=seed,
        cv_folds=n_folds,
        forest=best["forest"],
        feature_groups=kept,
        search={"feature_groups": group_rows, "forest": forest_rows, "winner": best},
    )
    save_config(config, config_path)
    return config
