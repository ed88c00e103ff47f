"""Training: real fits on the real data (slow), reproducibility, calibration, threshold, CLI;
what any trained pipeline promises, on the synthetic store."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from model_store import ModelManifest, ModelStore, sha256_of
from model_store.runtime import CompiledModel, Predictor
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES
from schemas.reasons import REASONS, contributions_by_reason, top_reasons
from tests.support import models
from tests.support.models import run_train, train_small
from train import search
from train.artifacts import load_pipeline
from train.calibration import (
    METHODS,
    NO_CALIBRATION,
    calibrated_out_of_fold,
    compare_calibrators,
)
from train.config import load_config
from train.crossval import stratified_folds
from train.data import Dataset, holdout_split, load_dataset, subsample
from train.evaluation import expected_calibration_error, max_f1_threshold
from train.onnx_export import (
    CompiledModelMismatchError,
    check_same_outputs,
    compile_pipeline,
    to_ort_format,
    verify,
)
from train.pipeline import (
    forest_pipeline,
    forests_of,
    make_single_threaded,
)
from train.training import SUMMARY_METRICS, TrainOptions, train_model
from train.transformers import FEATURE_GROUPS, PROTECTED_ATTRIBUTES


@pytest.mark.slow  # the real model
def test_quick_model_on_the_real_data_beats_chance_clearly(real_manifest: ModelManifest) -> None:
    assert real_manifest.metrics.roc_auc > 0.75
    assert real_manifest.metrics.brier < 0.15
    assert real_manifest.quick is True


@pytest.mark.slow  # the real model
def test_manifest_records_full_provenance(
    real_manifest: ModelManifest, real_store: Path, data_path: Path
) -> None:
    m = real_manifest
    assert m.data.sha256 == sha256_of(data_path)
    assert (m.data.rows, m.data.rows_used, m.data.rows_rejected) == (24_000, 24_000, 0)
    assert m.model_sha256 == sha256_of(real_store / m.version / m.model_file)
    assert m.feature_names == list(FEATURE_NAMES)
    assert m.feature_schema["properties"]["age"]["maximum"] == 120
    assert m.hyperparameters.forest.n_estimators == 60
    assert m.calibration.method == NO_CALIBRATION  # reasons add up to the forest's probability
    assert set(m.calibration.cv_brier) == {NO_CALIBRATION, *METHODS}
    assert m.compiled is not None
    assert m.compiled.sha256 == sha256_of(real_store / m.version / m.compiled.file)
    assert m.compiled.max_abs_difference <= 1e-6
    assert m.compiled.verified_rows == 4_800
    assert m.cv_results.train_rows == 19_200
    assert m.cv_results.holdout_rows == m.metrics.rows == 4_800
    assert len(m.cv_results.roc_auc_per_fold) == 3
    for name in (metric for metric in SUMMARY_METRICS if metric != "threshold"):
        assert 0.0 <= getattr(m.metrics, name) <= 1.0, name
        assert name in m.baseline.metrics.model_dump()
    assert m.baseline.hyperparameters.criterion == "entropy"
    assert 0.0 < m.threshold.value < 1.0
    assert "training split" in m.threshold.rule
    assert all(dict(m.libraries).values())


def test_saved_pipeline_cleans_codes_and_scores_single_threaded(synthetic_store: Path) -> None:
    pipeline = load_pipeline(ModelStore(synthetic_store), "production")
    row = [EXAMPLE_CUSTOMER[n] for n in FEATURE_NAMES]
    variants = []
    for education in (0, 4, 5, 6):
        changed = list(row)
        changed[FEATURE_NAMES.index("education")] = education
        variants.append(changed)
    proba = pipeline.predict_proba(np.array(variants, dtype=float))[:, 1]
    assert np.all(proba == proba[0])  # 0, 5 and 6 are "others" (4) inside the pipeline
    assert [forest.n_jobs for forest in forests_of(pipeline)] == [1]


def test_the_ort_format_serves_with_the_onnx_bits_and_a_different_one_is_refused(
    synthetic_store: Path, synthetic_dataset: Dataset
) -> None:
    """What serves is onnxruntime's own format of the compiled graph: every output the
    same bits as the ONNX's, on rows training never checked it on too."""
    store = ModelStore(synthetic_store)
    manifest = store.get("production")
    assert manifest.compiled.ort is not None
    served = store.load("production").compiled
    assert (
        sha256_of(synthetic_store / manifest.version / "model.ort") == manifest.compiled.ort.sha256
    )
    assert served == (synthetic_store / manifest.version / "model.ort").read_bytes()
    onnx = store.read_artifact(manifest, manifest.compiled.file)
    X = synthetic_dataset.X
    ours = CompiledModel(served, threads=1).predict_with_inputs(X)
    theirs = CompiledModel(onnx, threads=1).predict_with_inputs(X)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(ours, theirs, strict=True))
    # Another model's graph in the ORT format is refused by the same check training makes.
    other = ModelStore(models.challenger_store())
    other_onnx = other.read_artifact(other.get("challenger"), "model.onnx")
    with pytest.raises(CompiledModelMismatchError, match="not saving this version"):
        check_same_outputs(onnx, to_ort_format(other_onnx), X)


@pytest.mark.slow
def test_every_feature_group_compiles_to_the_same_probabilities(data_path: Path) -> None:
    dataset = load_dataset(data_path)
    X, _, y, _ = holdout_split(subsample(dataset, 3_000, seed=1), seed=1)
    forest = {"n_estimators": 40, "max_features": 0.5, "min_samples_leaf": 10}
    pipeline = make_single_threaded(forest_pipeline(forest, tuple(FEATURE_GROUPS), 1).fit(X, y))
    compiled = compile_pipeline(pipeline)
    # All 24,000 real rows, plus edge cases: undocumented codes, bills in credit, zero bills.
    edge = dataset.X[:50].copy()
    edge[:, FEATURE_NAMES.index("education")] = [0, 5, 6, 1, 4] * 10
    edge[:, FEATURE_NAMES.index("marriage")] = [0, 1, 2, 3, 0] * 10
    edge[:, FEATURE_NAMES.index("bill_amt2")] = [-500.0, 0.0, 1e9, 3.0, -1e9] * 10
    assert verify(pipeline, compiled, np.vstack([dataset.X, edge])) <= 1e-6
    engineered = pipeline[:-1].transform(edge)
    assert engineered.shape[1] == 23 + sum(len(g.names) for g in FEATURE_GROUPS.values())


@pytest.mark.slow
def test_a_compiled_model_that_disagrees_is_refused(data_path: Path) -> None:
    X, X_test, y, _ = holdout_split(subsample(load_dataset(data_path), 2_000, seed=2), seed=2)
    forest = {"n_estimators": 20, "min_samples_leaf": 20}
    one = make_single_threaded(forest_pipeline(forest, (), 1).fit(X, y))
    other = make_single_threaded(forest_pipeline(forest, (), 2).fit(X, y))
    with pytest.raises(CompiledModelMismatchError, match="not saving this version"):
        verify(one, compile_pipeline(other), X_test)


@pytest.mark.slow
def test_same_data_and_seed_give_the_same_metrics(data_path: Path) -> None:
    dataset = load_dataset(data_path)
    options = TrainOptions(seed=7, quick=True, sample_rows=3_000)
    config = load_config()
    first = train_model(dataset, config, options)
    second = train_model(dataset, config, options)
    assert first.fields["metrics"] == second.fields["metrics"]
    assert first.fields["threshold"] == second.fields["threshold"]
    assert first.compiled == second.compiled  # the compiled graph is reproducible too
    assert first.explainer == second.explainer  # and so is the explainer
    assert first.fields["metrics"].rows == 600
    other_seed = train_model(dataset, config, TrainOptions(seed=8, quick=True, sample_rows=3_000))
    assert other_seed.fields["metrics"] != first.fields["metrics"]


def test_the_calibrator_comparison_sees_distorted_scores() -> None:
    """What the manifest records would show a validator a forest that needs calibrating."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.02, 0.9, size=4_000)
    y = (rng.uniform(size=truth.size) < truth).astype(int)
    distorted = truth**3  # ranks kept, probabilities far too low
    brier = compare_calibrators(distorted, y, stratified_folds(5, 0))
    assert brier["sigmoid"] < brier[NO_CALIBRATION] - 0.01
    assert brier["isotonic"] < brier[NO_CALIBRATION] - 0.01
    calibrated = calibrated_out_of_fold(distorted, y, "sigmoid", stratified_folds(5, 0))
    assert expected_calibration_error(y, calibrated) < expected_calibration_error(y, distorted) / 3


def test_the_calibrator_comparison_leaves_calibrated_scores_best() -> None:
    rng = np.random.default_rng(2)
    truth = rng.uniform(0.02, 0.9, size=4_000)
    y = (rng.uniform(size=truth.size) < truth).astype(int)
    brier = compare_calibrators(truth, y, stratified_folds(5, 0))
    assert brier[NO_CALIBRATION] == min(brier.values())


def test_expected_calibration_error_and_threshold_rule() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=50_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.full(p.size, 0.9)) > 0.3
    separable = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert max_f1_threshold(np.array([0, 0, 0, 1, 1, 1]), separable) == 0.7


def test_train_cli_explains_a_missing_data_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.csv"
    result = run_train(
        "--store", str(tmp_path / "store"), env={**os.environ, "DATA_PATH": str(missing)}
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert str(missing) in message
    assert "default of credit card clients" in message
    assert "DATA_PATH" in message
    assert not (tmp_path / "store").exists()


def test_if_empty_does_not_train_over_an_existing_store(synthetic_store: Path) -> None:
    before = [m.version for m in ModelStore(synthetic_store).list()]
    result = run_train("--if-empty", "--store", str(synthetic_store))
    assert result.returncode == 0
    assert "not training" in result.stderr
    assert [m.version for m in ModelStore(synthetic_store).list()] == before


@pytest.mark.slow
def test_search_keeps_groups_by_cv_auc_and_records_its_winner(
    data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search's plumbing on a small sample and a two-point grid (the real one is long)."""
    monkeypatch.setattr(search, "N_ESTIMATORS", 20)
    monkeypatch.setattr(
        search,
        "FOREST_GRID",
        {"criterion": ["gini"], "max_features": [0.3], "min_samples_leaf": [20, 80]},
    )
    dataset = subsample(load_dataset(data_path), 2_000, seed=0)
    written = tmp_path / "hyperparameters.json"
    config = search.run_search(dataset, seed=0, n_folds=3, config_path=written)
    record = json.loads(written.read_text())
    assert record["forest"] == config.forest
    assert len(record["search"]["feature_groups"]) == 6
    assert len(record["search"]["forest"]) == 2
    base = record["search"]["feature_groups"][0]["cv_roc_auc_mean"]
    for row in record["search"]["feature_groups"][1:5]:
        kept = row["feature_groups"][0] in config.feature_groups
        assert kept == (row["cv_roc_auc_mean"] - base >= search.MIN_GAIN)
    best = max(record["search"]["forest"], key=lambda r: r["cv_roc_auc_mean"])
    assert config.forest == best["forest"]
    assert config.data_sha256 == sha256_of(data_path)


def test_the_committed_config_is_valid() -> None:
    config = load_config()
    assert config.forest["n_estimators"] >= 100
    assert config.cv_folds >= 3


@pytest.mark.slow  # a training run on the real data
def test_include_protected_makes_them_model_inputs_and_reports_both_ways(
    tmp_path: Path, data_path: Path
) -> None:
    store = tmp_path / "store"
    train_small(store, data_path, "--include-protected")
    manifest = ModelStore(store).get("production")
    assert manifest.explainer is not None
    assert set(PROTECTED_ATTRIBUTES) <= set(manifest.explainer.model_inputs)
    protected = manifest.protected_attributes
    assert protected is not None
    assert protected.in_model
    assert protected.held_out_with == manifest.metrics
    assert protected.held_out_without != manifest.metrics
    report = ModelStore(store).read_artifact(manifest, manifest.report.file).decode()
    assert "are model inputs of this model" in report
    # their share is reported under the protected entry, never given as a reason
    predictor = Predictor(ModelStore(store).load("production"))
    rows = np.array([[EXAMPLE_CUSTOMER[n] for n in FEATURE_NAMES]] * 3, dtype=float)
    by_reason = contributions_by_reason(
        predictor.explain(rows).contributions, manifest.explainer.model_inputs
    )
    protected_index = [r.code for r in REASONS].index("PROTECTED_ATTRIBUTES")
    assert np.any(by_reason[:, protected_index] != 0)
    assert all(protected_index not in chosen for chosen in top_reasons(by_reason))
