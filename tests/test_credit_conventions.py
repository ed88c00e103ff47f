"""Credit-risk conventions: a risk that never falls as payments fall behind, score points
and the master scale, on the compiled model that serves and on every path that answers."""

import decimal
import itertools
import math
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_store import ModelStore
from model_store.manifest import ModelManifest, ScoreScaling
from model_store.runtime import CompiledModel, Predictor
from model_store.scoring import assign_grades, score_points
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES, CustomerFeatures
from schemas.features import feature_matrix
from service.decisions import DecisionStore
from tests.support.models import SYNTHETIC_CONFIG_UPDATE, synthetic_customers, synthetic_dataset
from train import pipeline as pipeline_module
from train.config import load_config
from train.data import load_dataset
from train.monotone import MonotonicityRefusedError, delay_evidence
from train.rating import (
    MAX_SHARE,
    MIN_GRADES,
    MasterScaleRefusedError,
    choose_bounds,
    jeffreys_interval,
    master_scale,
)
from train.training import TrainOptions, train_model

pytestmark = pytest.mark.anyio

STATUSES = [f"pay_{m}" for m in (0, 2, 3, 4, 5, 6)]


def compiled(store: Path) -> CompiledModel:
    return CompiledModel(ModelStore(store).load("production").compiled, threads=1)


# -- score points ----------------------------------------------------------------------------


def test_points_follow_the_formula_and_stay_finite_at_0_and_1() -> None:
    scaling = ScoreScaling()
    factor = 20 / math.log(2)
    offset = 600 - factor * math.log(50)
    probabilities = np.array([0.02, 0.1, 0.12007357180118561, 0.5, 0.9])
    expected = [round(offset + factor * math.log((1 - p) / p)) for p in probabilities]
    assert score_points(probabilities, scaling).tolist() == expected
    assert score_points(np.array([1 / 51]), scaling).tolist() == [600]  # odds of 50:1
    extremes = score_points(np.array([0.0, 1.0]), scaling).tolist()
    assert extremes == [scaling.max_score, scaling.min_score] == [886, 88]


def test_a_higher_probability_never_gets_more_points_or_a_better_grade(
    synthetic_manifest: ModelManifest,
) -> None:
    scale = synthetic_manifest.master_scale
    assert scale is not None
    p = np.sort(np.random.default_rng(0).random(100_000))
    points = score_points(p, synthetic_manifest.score_scaling)
    grades = assign_grades(p, scale)
    assert np.all(np.diff(points) <= 0)
    assert np.all(np.diff(grades) >= 0)
    assert set(grades.tolist()) == {g.grade for g in scale.grades}


def _points_to_50_digits(p: float, scaling: ScoreScaling) -> int:
    with decimal.localcontext(prec=60):
        P = decimal.Decimal(p)
        exact = (
            decimal.Decimal(scaling.offset) + decimal.Decimal(scaling.factor) * ((1 - P) / P).ln()
        )
        return int(exact.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_EVEN))


@pytest.mark.parametrize(
    "scaling",
    [ScoreScaling(), ScoreScaling(base_score=650, base_odds=20, pdo=40), ScoreScaling(pdo=13)],
)
def test_points_next_to_a_half_are_the_same_whatever_the_logs_last_bit(
    scaling: ScoreScaling, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's log gives another last bit on a CPU without AVX-512 for about 0.2% of
    inputs. Probabilities whose formula value lies within a few units in the last place of
    a half point get the exactly rounded points all the same, with the log as it is and
    with a log one unit off either way."""
    halves = np.linspace(scaling.min_score + 1, scaling.max_score - 1, 40).round() + 0.5
    p = 1.0 / (1.0 + np.exp((halves - scaling.offset) / scaling.factor))
    for _ in range(5):  # and the five floats on each side of each
        p = np.unique(np.concatenate([p, np.nextafter(p, 0), np.nextafter(p, 1)]))
    expected = [_points_to_50_digits(x, scaling) for x in p.tolist()]
    assert score_points(p, scaling).tolist() == expected
    log = np.log
    for direction in (np.inf, -np.inf):
        monkeypatch.setattr(np, "log", lambda x, d=direction: np.nextafter(log(x), d))
        assert score_points(p, scaling).tolist() == expected


@pytest.mark.slow
def test_over_the_data_sets_rows_more_risk_never_means_more_points_or_a_better_grade(
    real_store: Path, data_path: Path
) -> None:
    predictor = Predictor(ModelStore(real_store).load("production"), threads=1)
    scored = predictor.score(load_dataset(data_path).X)
    order = np.argsort(scored.probabilities, kind="stable")
    assert np.all(np.diff(scored.points[order]) <= 0)
    assert np.all(np.diff(scored.grades[order]) >= 0)
    assert len(set(scored.grades.tolist())) == len(predictor.manifest.master_scale.grades)


# -- the master scale ------------------------------------------------------------------------


def _check_scale(manifest: ModelManifest, held_out_rules: bool) -> None:
    """The scale's structure; with `held_out_rules`, also the two rules training holds a
    full version to on its held-out rows (a quick version's grades are too small)."""
    scale = manifest.master_scale
    assert scale is not None
    grades = scale.grades
    assert len(grades) >= MIN_GRADES
    assert [g.grade for g in grades] == list(range(1, len(grades) + 1))
    assert grades[0].lower_pd == 0.0
    assert grades[-1].upper_pd == 1.0
    for lower, higher in itertools.pairwise(grades):
        assert lower.upper_pd == higher.lower_pd  # contiguous
        assert lower.lower_pd < lower.upper_pd < higher.upper_pd  # increasing
        if held_out_rules:
            assert higher.observed_default_rate > lower.observed_default_rate
    customers = sum(g.held_out_customers for g in grades)
    assert customers == manifest.cv_results.holdout_rows
    if held_out_rules:
        assert max(g.held_out_customers for g in grades) <= customers * MAX_SHARE
    for g in grades:
        defaults = round(g.observed_default_rate * g.held_out_customers)
        assert g.jeffreys_interval == jeffreys_interval(defaults, g.held_out_customers)
        assert 0 < g.jeffreys_interval[0] < g.jeffreys_interval[1] < 1


def test_the_synthetic_models_scale_is_contiguous_and_rising(
    synthetic_manifest: ModelManifest,
) -> None:
    _check_scale(synthetic_manifest, held_out_rules=False)
    assert synthetic_manifest.master_scale.held_out_check == "not checked"  # a quick version


def test_training_refuses_a_scale_the_held_out_rows_break() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(7_000)
    y = (rng.random(7_000) < p).astype(int)
    bounds = choose_bounds(p, y)
    assert len(bounds) >= MIN_GRADES
    assert master_scale(bounds, p, y, check=True).held_out_check == "passed"
    upside_down = 1 - y  # the riskier the grade, the fewer defaults
    with pytest.raises(MasterScaleRefusedError, match="does not rise"):
        master_scale(bounds, p, upside_down, check=True)
    crowded = np.where(p < 0.5, 0.01, p)  # half the customers in the lowest grade
    with pytest.raises(MasterScaleRefusedError, match="more than a third"):
        master_scale(bounds, crowded, y, check=True)


@pytest.mark.slow
def test_the_real_models_scale_meets_the_rules_on_held_out_rows(
    real_manifest: ModelManifest,
) -> None:
    _check_scale(real_manifest, held_out_rules=True)


# -- answers carry points and grade ----------------------------------------------------------


async def test_every_answer_carries_points_and_grade(
    client: httpx.AsyncClient, synthetic_store: Path
) -> None:
    predictor = Predictor(ModelStore(synthetic_store).load("production"), threads=1)
    X, bodies = synthetic_customers(40, seed=5)
    expected = predictor.score(X)
    batch = (await client.post("/predict/batch", json={"customers": bodies})).json()
    assert [p["score"] for p in batch["predictions"]] == expected.points.tolist()
    assert [p["grade"] for p in batch["predictions"]] == expected.grades.tolist()
    for body, answer in zip(bodies[:5], batch["predictions"], strict=False):
        one = (await client.post("/predict", json=body, headers={"X-Request-ID": "pts"})).json()
        assert (one["score"], one["grade"]) == (answer["score"], answer["grade"])
        [record] = (await client.get("/decisions/pts")).json()[-1:]
        assert (record["score"], record["grade"]) == (one["score"], one["grade"])
    details = (await client.get(f"/models/{batch['model_version']}")).json()
    assert details["score_scaling"] == {
        "base_score": 600.0,
        "base_odds": 50.0,
        "pdo": 20.0,
        "probability_floor": 1e-06,
    }
    assert len(details["master_scale"]["grades"]) >= MIN_GRADES
    assert details["monotonicity"]["constrained"] is True


# -- monotone in delay -----------------------------------------------------------------------


def _customers() -> st.SearchStrategy[dict[str, float]]:
    """Any customer the contract accepts: every field over its whole declared range."""
    fields = {}
    for name, schema in CustomerFeatures.model_json_schema()["properties"].items():
        if schema["type"] == "integer":
            fields[name] = st.integers(schema["minimum"], schema["maximum"])
        elif "exclusiveMinimum" in schema:
            fields[name] = st.floats(
                schema["exclusiveMinimum"], schema["maximum"], exclude_min=True, allow_nan=False
            )
        else:
            fields[name] = st.floats(schema["minimum"], schema["maximum"], allow_nan=False)
    return st.fixed_dictionaries(fields)


def _property(model: CompiledModel):
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(customer=_customers(), status=st.sampled_from(STATUSES), months=st.integers(0, 8))
    def never_lower(customer: dict[str, float], status: str, months: int) -> None:
        before = dict(customer, **{status: months})
        after = dict(customer, **{status: months + 1})
        rows = feature_matrix(
            [CustomerFeatures.model_validate(before), CustomerFeatures.model_validate(after)]
        )
        p_before, p_after = model.predict_proba(rows)
        assert p_after >= p_before, (status, months, customer)

    return never_lower


def test_the_compiled_model_never_lowers_the_risk_for_a_later_payment(
    synthetic_store: Path,
) -> None:
    _property(compiled(synthetic_store))()


@pytest.mark.slow
def test_the_real_compiled_model_never_lowers_the_risk_anywhere(real_store: Path) -> None:
    _property(compiled(real_store))()


@pytest.mark.slow
def test_no_row_of_the_data_set_gets_a_lower_risk_one_month_later(
    real_store: Path, data_path: Path
) -> None:
    """Exhaustive, each of the six statuses: every row whose status is in 0..8, moved."""
    model = compiled(real_store)
    X = load_dataset(data_path).X
    before = model.predict_proba(X)
    for status in STATUSES:
        column = FEATURE_NAMES.index(status)
        movable = np.isin(X[:, column], np.arange(0, 9))
        moved = X[movable].copy()
        moved[:, column] += 1
        lowered = np.count_nonzero(model.predict_proba(moved) < before[movable])
        print(f"{status}: {movable.sum()} moves, {lowered} lowered the risk")
        assert movable.sum() > 0
        assert lowered == 0
    recorded = ModelStore(real_store).get("production").monotonicity
    assert recorded.constrained
    assert recorded.moves_lowering_risk == 0
    assert recorded.moves_checked == sum(
        int(np.isin(X[:, FEATURE_NAMES.index(s)], np.arange(0, 9)).sum()) for s in STATUSES
    )


def _quick(**options: object):
    config = load_config().model_copy(update=SYNTHETIC_CONFIG_UPDATE)
    return train_model(synthetic_dataset(), config, TrainOptions(seed=3, quick=True, **options))


def test_training_refuses_a_version_that_lets_delay_lower_the_risk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forest loses its constraints but is still declared monotone: the check on the
    # compiled model must catch it.
    monkeypatch.setattr(pipeline_module, "monotonic_constraints", lambda names: [0] * len(names))
    with pytest.raises(MonotonicityRefusedError, match="lowered the compiled model"):
        _quick()


def test_no_monotone_trains_an_unconstrained_version_and_says_so() -> None:
    trained = _quick(monotone=False)
    recorded = trained.fields["monotonicity"]
    assert recorded.constrained is False
    assert recorded.increasing_inputs == []
    assert recorded.leaf_calibration is None
    evidence = delay_evidence(CompiledModel(trained.compiled, threads=1), synthetic_dataset().X)
    assert recorded.moves_lowering_risk == evidence.lowered > 0
    # Both kinds on the same held-out rows, from the same run.
    assert recorded.held_out_unconstrained == trained.fields["metrics"]
    assert recorded.held_out_constrained != recorded.held_out_unconstrained


# -- the decision log keeps both, through a migration that keeps every record ------------------


def test_the_migration_to_score_and_grade_keeps_every_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    store = DecisionStore(url, 5)
    try:
        store.migrate("0001")
        inputs = {name: float(EXAMPLE_CUSTOMER[name]) for name in FEATURE_NAMES}
        columns = ", ".join(["request_id", "position", "decided_at", "route", "key_id",
                             "model_version", "threshold", *FEATURE_NAMES, "probability",
                             "decision", "reasons"])  # fmt: skip
        rows = [
            ("old-1", i, "2026-11-30 12:00:00.000000", "/predict/batch", None, "v0", 0.29,
             *inputs.values(), 0.1 * (i + 1), i == 2, None)
            for i in range(3)
        ]  # fmt: skip
        raw = store.engine.raw_connection()
        raw.cursor().executemany(
            f"INSERT INTO decisions ({columns}) VALUES ({', '.join('?' * len(rows[0]))})", rows
        )
        raw.commit()
        raw.close()
        assert store.revision() == ("0001", "0004")
        store.migrate()
        assert store.revision() == ("0004", "0004")
        records = store.by_request("old-1")
        assert [r["probability"] for r in records] == [0.1, 0.2, 0.1 * 3]
        assert [r["default"] for r in records] == [False, False, True]
        assert [(r["score"], r["grade"]) for r in records] == [(None, None)] * 3
        assert all(r["customer"] == inputs for r in records)
    finally:
        store.close()
