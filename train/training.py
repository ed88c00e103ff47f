"""One training run: data -> split -> CV -> fit -> evaluation -> compiled form -> explainer
-> report -> store."""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from model_store import ApprovalRequiredError, ModelStore
from model_store.drift import reference_bins
from model_store.explainer import TreeExplainer, explainer_bytes
from model_store.manifest import (
    Baseline,
    Calibration,
    CompiledArtifact,
    CrossValidation,
    DecisionThreshold,
    DriftReference,
    ExplainerArtifact,
    ForestParameters,
    HeldOutMetrics,
    Hyperparameters,
    ModelManifest,
    Monotonicity,
    OrtFormat,
    ProtectedAttributes,
    ReportArtifact,
    ScoreScaling,
)
from model_store.runtime import ENGINE, CompiledModel
from model_store.settings import StoreSettings
from model_store.store import (
    COMPILED_FILE,
    EXPLAINER_FILE,
    MODEL_FILE,
    ORT_FILE,
    REPORT_FILE,
    os_user,
)
from schemas.features import FEATURE_NAMES, CustomerFeatures
from train.artifacts import library_versions, pipeline_bytes
from train.calibration import NO_CALIBRATION, SERVED_RULE, compare_calibrators
from train.config import TrainingConfig
from train.console import console, metrics_table, progress, report
from train.crossval import out_of_fold, stratified_folds
from train.data import Dataset, holdout_split, subsample
from train.evaluation import THRESHOLD_RULE, evaluate, max_f1_threshold
from train.explainer_export import forest_explainer_arrays
from train.monotone import (
    DelayEvidence,
    LeafCalibration,
    MonotonicityRefusedError,
    delay_evidence,
)
from train.onnx_export import (
    CompiledModelMismatchError,
    check_same_outputs,
    compile_pipeline,
    to_ort_format,
    verify,
)
from train.pipeline import (
    ORIGINAL_FOREST,
    forest_pipeline,
    forests_of,
    make_single_threaded,
)
from train.rating import choose_bounds, master_scale
from train.report import render_report
from train.transformers import PROTECTED_ATTRIBUTES

# --quick: a small forest and 3 folds, for tests; its manifest says quick=true.
QUICK_TREES: Final = 60
QUICK_FOLDS: Final = 3
EXPLAINER_TOLERANCE: Final = 1e-6
SUMMARY_METRICS: Final = [
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "threshold",
]


EXPLAINER_METHOD: Final = (
    "exact path-dependent TreeSHAP (as shap.TreeExplainer, feature_perturbation="
    "'tree_path_dependent'), computed per tree node with Gauss-Legendre quadrature"
)


@dataclass(frozen=True)
class TrainOptions:
    seed: int
    quick: bool = False
    sample_rows: int | None = None
    include_protected: bool = False  # sex, marriage and age as model inputs (not by default)
    scaling: ScoreScaling = field(default_factory=ScoreScaling)
    monotone: bool = True  # the risk never falls as a repayment status moves later


@dataclass(frozen=True)
class HeldOut:
    """The held-out rows and what the trained model made of them, for the report."""

    X: np.ndarray
    y: np.ndarray
    probabilities: np.ndarray
    contributions: np.ndarray  # rows x model inputs
    model_inputs: list[str]
    delay: DelayEvidence  # statuses moved one month later, on these rows


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Any
    compiled: bytes
    compiled_ort: bytes  # the same graph in onnxruntime's format, what serves
    explainer: bytes
    fields: dict[str, Any]
    held_out: HeldOut


def _constraints(forest: RandomForestClassifier) -> list[int]:
    constraints = forest.monotonic_cst
    return [0] * forest.n_features_in_ if constraints is None else list(constraints)


def drift_reference(X_train: np.ndarray, held_out_scores: np.ndarray) -> DriftReference:
    """The distributions drift is measured against: each input over the training split,
    and the served probability over the held-out split (what unseen customers get)."""
    integer = {n for n, f in CustomerFeatures.model_fields.items() if f.annotation is int}
    return DriftReference(
        description="inputs: the training split; score: the served probability of the "
        "held-out split",
        rows=len(X_train),
        inputs={
            name: reference_bins(X_train[:, index], name in integer)
            for index, name in enumerate(FEATURE_NAMES)
        },
        score=reference_bins(held_out_scores, integer=False),
    )


def _fit_original_forest(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
    quick: bool,
) -> Baseline:
    params = {**ORIGINAL_FOREST, "n_estimators": QUICK_TREES} if quick else dict(ORIGINAL_FOREST)
    forest = RandomForestClassifier(random_state=seed, n_jobs=-1, **params)
    forest.fit(X_train, y_train)
    forest.n_jobs = 1  # deterministic scoring, see train.crossval
    metrics = evaluate(y_test, forest.predict_proba(X_test)[:, 1], threshold=0.5)
    return Baseline(
        description="original project's forest on raw columns, uncalibrated, threshold 0.5",
        hyperparameters=ForestParameters(**params),
        metrics=metrics,
    )


def _protected_comparison(
    included: bool,
    fit: Callable[[tuple[str, ...]], Pipeline],
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    threshold: float,
    metrics: HeldOutMetrics,
) -> ProtectedAttributes:
    """Held-out metrics both ways: the trained model, and the same forest fitted the
    other way round (with the protected attributes if the model leaves them out)."""
    _, X_test, _, y_test = split
    other = fit(() if not included else PROTECTED_ATTRIBUTES)
    other_metrics = evaluate(y_test, other.predict_proba(X_test)[:, 1], threshold)
    return ProtectedAttributes(
        attributes=list(PROTECTED_ATTRIBUTES),
        in_model=included,
        held_out_without=other_metrics if included else metrics,
        held_out_with=metrics if included else other_metrics,
    )


def _monotone_comparison(
    options: TrainOptions,
    forest_params: dict[str, Any],
    groups: tuple[str, ...],
    excluded: tuple[str, ...],
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    threshold: float,
    metrics: HeldOutMetrics,
    folds: StratifiedKFold,
) -> tuple[HeldOutMetrics, HeldOutMetrics]:
    """Held-out metrics constrained and unconstrained, from the same run: the trained
    model, and a forest of the other kind (with `forest_params`, its own recorded ones)
    fitted on the same rows; a constrained one gets its own leaf calibration, from
    out-of-fold trees of the training split."""
    X_train, X_test, y_train, y_test = split
    seed = options.seed
    if options.monotone:
        other = forest_pipeline(forest_params, groups, seed, excluded).fit(X_train, y_train)
    else:
        found = out_of_fold(
            forest_pipeline(forest_params, groups, seed, excluded, monotone=True),
            X_train,
            y_train,
            stratified_folds(QUICK_FOLDS, seed) if options.quick else folds,
            per_tree=True,
        )
        other = forest_pipeline(forest_params, groups, seed, excluded, monotone=True)
        other.fit(X_train, y_train)
        LeafCalibration.fit(found.tree_scores, y_train).apply(forests_of(other)[0])
    make_single_threaded(other)
    other_metrics = evaluate(y_test, other.predict_proba(X_test)[:, 1], threshold)
    return (metrics, other_metrics) if options.monotone else (other_metrics, metrics)


def _explainer(
    pipeline: Pipeline, compiled: bytes, X_test: np.ndarray
) -> tuple[bytes, ExplainerArtifact, np.ndarray, np.ndarray]:
    """The explainer artifact, checked against the compiled model on the held-out rows:
    base + contributions must give the served probability, or no version is saved.
    Returns the artifact's bytes and description, the held-out contributions and the
    served probabilities they were checked against."""
    arrays = forest_explainer_arrays(forests_of(pipeline)[0])
    data = explainer_bytes(arrays)
    model_inputs = [str(name) for name in Pipeline(pipeline.steps[:-1]).get_feature_names_out()]
    probabilities, inputs = CompiledModel(compiled).predict_with_inputs(X_test)
    contributions = TreeExplainer(data, len(model_inputs)).contributions(inputs)
    difference = float(np.max(np.abs(float(arrays["base"]) + contributions.sum(1) - probabilities)))
    if not difference <= EXPLAINER_TOLERANCE:
        raise CompiledModelMismatchError(
            f"explainer contributions miss the served probability by up to {difference:.3g} "
            f"(tolerance {EXPLAINER_TOLERANCE:g}); not saving this version"
        )
    artifact = ExplainerArtifact(
        file=EXPLAINER_FILE,
        sha256=hashlib.sha256(data).hexdigest(),
        method=EXPLAINER_METHOD,
        model_inputs=model_inputs,
        base=float(arrays["base"]),
        max_abs_difference=difference,
        verified_rows=len(X_test),
    )
    return data, artifact, contributions, probabilities


def train_model(dataset: Dataset, config: TrainingConfig, options: TrainOptions) -> TrainedModel:
    """Fit, evaluate, compile and explain; returns the pipeline, its compiled form and
    explainer, the manifest fields they earned and the held-out rows."""
    started = time.perf_counter()
    seed = options.seed
    if options.sample_rows:
        dataset = subsample(dataset, options.sample_rows, seed)
    n_folds = QUICK_FOLDS if options.quick else config.cv_folds
    # Each kind of forest with its own recorded hyperparameters.
    constrained_params = dict(config.monotone_forest or config.forest)
    unconstrained_params = dict(config.forest)
    if options.quick:
        constrained_params["n_estimators"] = unconstrained_params["n_estimators"] = QUICK_TREES
    forest_params, other_params = (
        (constrained_params, unconstrained_params)
        if options.monotone
        else (unconstrained_params, constrained_params)
    )
    groups = tuple(config.feature_groups)
    excluded = () if options.include_protected else PROTECTED_ATTRIBUTES

    X_train, X_test, y_train, y_test = holdout_split(dataset, seed)
    folds = stratified_folds(n_folds, seed)

    monotone = options.monotone
    calibration: LeafCalibration | None = None

    def fit(excluded_columns: tuple[str, ...]) -> Pipeline:
        """The served kind of forest, fitted on the training split (and its leaves
        calibrated when it is constrained)."""
        pipeline = forest_pipeline(forest_params, groups, seed, excluded_columns, monotone)
        pipeline.fit(X_train, y_train)
        if calibration is not None:
            calibration.apply(forests_of(pipeline)[0])
        return make_single_threaded(pipeline)

    with progress() as bar:
        cv_task = bar.add_task("cross-validating the forest", total=n_folds)
        found = out_of_fold(
            forest_pipeline(forest_params, groups, seed, excluded, monotone),
            X_train,
            y_train,
            folds,
            lambda: bar.advance(cv_task),
            per_tree=monotone,
        )
        scores, fold_auc = found.scores, found.fold_auc
        if found.tree_scores is not None:
            calibration = LeafCalibration.fit(found.tree_scores, y_train)
            scores = calibration(found.tree_scores).mean(axis=1)  # as the served forest
        brier_by_method = compare_calibrators(scores, y_train, folds)
        threshold = max_f1_threshold(y_train, scores)

        fit_task = bar.add_task("fitting the forest", total=1)
        pipeline = fit(excluded)
        bar.advance(fit_task)

        baseline_task = bar.add_task("fitting the original project's forest", total=1)
        baseline = _fit_original_forest(X_train, y_train, X_test, y_test, seed, options.quick)
        bar.advance(baseline_task)

        metrics = evaluate(y_test, pipeline.predict_proba(X_test)[:, 1], threshold)
        other_way = "with" if not options.include_protected else "without"
        protected_task = bar.add_task(f"fitting a forest {other_way} sex, marriage, age", total=1)
        protected = _protected_comparison(
            options.include_protected, fit, (X_train, X_test, y_train, y_test), threshold, metrics
        )
        bar.advance(protected_task)
        other_kind = "an unconstrained" if monotone else "a constrained"
        monotone_task = bar.add_task(f"fitting {other_kind} forest", total=1)
        constrained, unconstrained = _monotone_comparison(
            options,
            other_params,
            groups,
            excluded,
            (X_train, X_test, y_train, y_test),
            threshold,
            metrics,
            folds,
        )
        bar.advance(monotone_task)

    # The compiled form must agree with the pipeline on the held-out rows, or no version.
    compiled = compile_pipeline(pipeline)
    difference = verify(pipeline, compiled, X_test)
    compiled_ort = to_ort_format(compiled)  # what serves: the same bits, half the memory
    check_same_outputs(compiled, compiled_ort, X_test)
    # And a constrained one must never lower the risk for a later payment, over every row.
    evidence = delay_evidence(CompiledModel(compiled, threads=1), dataset.X)
    if monotone and evidence.lowered:
        raise MonotonicityRefusedError(
            f"{evidence.lowered} of {evidence.moves} moves of a repayment status one month "
            f"later lowered the compiled model's probability (by up to "
            f"{evidence.largest_fall:.3g}); not saving this version"
        )
    served_groups = tuple(pipeline.named_steps["features"].groups)
    forest = forests_of(pipeline)[0]
    model_inputs = list(Pipeline(pipeline.steps[:-1]).get_feature_names_out())
    explainer, explainer_artifact, contributions, served = _explainer(pipeline, compiled, X_test)
    # The scale is chosen on the training split; the held-out rows only check it (quick
    # versions are too small for that to mean anything).
    scale = master_scale(choose_bounds(scores, y_train), served, y_test, check=not options.quick)
    fields = {
        "data": dataset.provenance,
        "feature_names": list(FEATURE_NAMES),
        "feature_schema": CustomerFeatures.model_json_schema(),
        "engineered_features": [name for name in model_inputs if name not in FEATURE_NAMES],
        "hyperparameters": Hyperparameters(
            forest=ForestParameters(**forest_params),
            feature_groups=list(served_groups),
            chosen_by=config.chosen_by,
        ),
        "calibration": Calibration(
            method=NO_CALIBRATION,
            chosen_by=SERVED_RULE,
            cv_brier=brier_by_method,
            wrapper=None,
            cv_folds=n_folds,
        ),
        "cv_results": CrossValidation(
            folds=n_folds,
            roc_auc_per_fold=fold_auc,
            roc_auc_mean=float(np.mean(fold_auc)),
            roc_auc_std=float(np.std(fold_auc)),
            train_rows=len(y_train),
            holdout_rows=len(y_test),
        ),
        "metrics": metrics,
        "baseline": baseline,
        "threshold": DecisionThreshold(value=threshold, rule=THRESHOLD_RULE),
        "seed": seed,
        "quick": options.quick,
        "training_seconds": round(time.perf_counter() - started, 1),
        "libraries": library_versions(),
        "compiled": CompiledArtifact(
            file=COMPILED_FILE,
            sha256=hashlib.sha256(compiled).hexdigest(),
            engine=ENGINE,
            max_abs_difference=difference,
            verified_rows=len(y_test),
            ort=OrtFormat(file=ORT_FILE, sha256=hashlib.sha256(compiled_ort).hexdigest()),
        ),
        "explainer": explainer_artifact,
        "protected_attributes": protected,
        "drift_reference": drift_reference(X_train, served),
        "score_scaling": options.scaling,
        "master_scale": scale,
        "monotonicity": Monotonicity(
            constrained=monotone,
            increasing_inputs=[
                name
                for name, sign in zip(model_inputs, _constraints(forest), strict=True)
                if sign > 0
            ],
            leaf_calibration=None if calibration is None else (calibration.a, calibration.b),
            held_out_constrained=constrained,
            held_out_unconstrained=unconstrained,
            moves_checked=evidence.moves,
            moves_lowering_risk=evidence.lowered,
            largest_fall=evidence.largest_fall,
            largest_rise=evidence.largest_rise,
        ),
    }
    held_out = HeldOut(
        X=X_test,
        y=y_test,
        probabilities=served,
        contributions=contributions,
        model_inputs=explainer_artifact.model_inputs,
        delay=delay_evidence(CompiledModel(compiled, threads=1), X_test),
    )
    return TrainedModel(pipeline, compiled, compiled_ort, explainer, fields, held_out)


def train_and_save(
    dataset: Dataset,
    config: TrainingConfig,
    options: TrainOptions,
    store_dir: Path,
    promote_to: str | None,
) -> ModelManifest:
    trained = train_model(dataset, config, options)
    store = ModelStore(store_dir)
    created_at = datetime.now(UTC)
    report = render_report(trained.fields, trained.held_out, created_at)

    def build_manifest(version: str, checksums: dict[str, str]) -> ModelManifest:
        return ModelManifest(
            version=version,
            created_at=created_at,
            model_file=MODEL_FILE,
            model_sha256=checksums[MODEL_FILE],
            report=ReportArtifact(file=REPORT_FILE, sha256=checksums[REPORT_FILE]),
            **trained.fields,
        )

    artifacts = {
        MODEL_FILE: pipeline_bytes(trained.pipeline),
        COMPILED_FILE: trained.compiled,
        ORT_FILE: trained.compiled_ort,
        EXPLAINER_FILE: trained.explainer,
        REPORT_FILE: report,
    }
    manifest = store.save(artifacts, build_manifest)
    refusal = None
    if promote_to:
        refusal = promote_trained(
            store, manifest.version, promote_to, StoreSettings().promotion_requires_approval
        )
    print_summary(manifest, store_dir, "(not promoted: needs approval)" if refusal else promote_to)
    if refusal:
        console.print(refusal, highlight=False)
    return manifest


def promote_trained(
    store: ModelStore, version: str, alias: str, requires_approval: bool
) -> str | None:
    """Promote a version training just saved, on the record; None once it is promoted.

    Where promotions need someone else's approval (PROMOTION_REQUIRES_APPROVAL) a new
    version has none, so it stays saved and unpromoted, and training still succeeds: the
    answer then says so and how to get it approved and promoted."""
    try:
        store.promote(
            version,
            alias,
            by=f"python -m train ({os_user()})",
            reason=f"promoted by training (--promote {alias})",
            requires_approval=requires_approval,
        )
    except ApprovalRequiredError:
        return (
            f"[yellow]version {version} is saved but {alias} was not moved:[/] promotions "
            "need someone else's approval (PROMOTION_REQUIRES_APPROVAL). Someone other than "
            f"the promoter runs `python -m model_store approve {version} --alias {alias} "
            "--by NAME --reason TEXT`, then the promoter runs `python -m model_store promote "
            f"{version} --alias {alias} --by NAME --reason TEXT`."
        )
    return None


def print_summary(manifest: ModelManifest, store_dir: Path, promoted_to: str | None) -> None:
    columns = {
        "this model (held-out)": manifest.metrics,
        "original forest (held-out)": manifest.baseline.metrics,
    }
    protected = manifest.protected_attributes
    if protected is not None:
        columns["with sex, marriage, age"] = protected.held_out_with
        columns["without them"] = protected.held_out_without
    monotonicity = manifest.monotonicity
    if monotonicity is not None:
        columns["monotone in delay"] = monotonicity.held_out_constrained
        columns["unconstrained"] = monotonicity.held_out_unconstrained
    report.print(metrics_table("Held-out evaluation", columns, SUMMARY_METRICS))
    cv = manifest.cv_results
    data = manifest.data
    cv_brier = ", ".join(f"{k} {v:.5f}" for k, v in manifest.calibration.cv_brier.items())
    lines = {
        "version": manifest.version + ("  (quick)" if manifest.quick else ""),
        "store": str(store_dir),
        "promoted to": promoted_to or "(not promoted)",
        "data": f"{data.file_name} sha256 {data.sha256[:16]}…, "
        f"{data.rows_used} rows used, {data.rows_rejected} rejected",
        "forest": manifest.hyperparameters.forest.model_dump_json(),
        "feature groups": ", ".join(manifest.hyperparameters.feature_groups) or "none",
        "protected": "sex, marriage, age are model inputs (--include-protected)"
        if protected is not None and protected.in_model
        else "sex, marriage, age are not model inputs (validated by the API only)",
        "reason codes": "exact TreeSHAP explainer saved, checked on the held-out rows",
        "delay": "monotone: "
        + (
            "the risk never falls as a status moves a month later "
            if monotonicity.constrained
            else "NOT constrained (--no-monotone) "
        )
        + f"({monotonicity.moves_lowering_risk} of {monotonicity.moves_checked} such moves "
        f"lowered it on the compiled model)"
        if monotonicity is not None
        else "not checked",
        "grades": f"{len(manifest.master_scale.grades)} on the master scale, held-out check "
        f"{manifest.master_scale.held_out_check}"
        if manifest.master_scale is not None
        else "none",
        "CV ROC AUC": f"{cv.roc_auc_mean:.4f} ± {cv.roc_auc_std:.4f} "
        f"({cv.folds} folds of the training split)",
        "calibration": f"none served (CV Brier {cv_brier})",
        "threshold": f"{manifest.threshold.value:.4f} ({manifest.threshold.rule})",
        "training time": f"{manifest.training_seconds:.1f} s",
    }
    for label, value in lines.items():
        report.print(f"{label:<15}{value}", soft_wrap=True, highlight=False)
