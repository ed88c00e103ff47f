"""Reason codes: exact TreeSHAP contributions, the catalogue, `explain=true`, the
explainer artifact's integrity, the protected attributes and the model report. On the
synthetic store: exactness and the catalogue's rules hold for any trained forest."""

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import shap
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from model_store import ModelStore
from model_store.explainer import ExplainerError, TreeExplainer, explainer_bytes
from model_store.manifest import ModelManifest
from model_store.runtime import Predictor
from schemas import EXAMPLE_CUSTOMER
from schemas.features import FEATURE_NAMES
from schemas.reasons import MAX_REASONS, REASON_BY_INPUT, REASONS, reason_columns, top_reasons
from service.settings import ServiceSettings
from tests.support.models import store_without_reasons, synthetic_customers
from tests.support.servers import asgi_client, assert_problem
from train.artifacts import load_pipeline
from train.data import Dataset, holdout_split
from train.explainer_export import forest_explainer_arrays
from train.pipeline import forests_of
from train.transformers import ALL_GROUPS, PROTECTED_ATTRIBUTES

pytestmark = pytest.mark.anyio
TOLERANCE = 1e-6
CODES = [reason.code for reason in REASONS]


@pytest.fixture(scope="module")
def held_out(synthetic_dataset: Dataset, synthetic_manifest: ModelManifest) -> np.ndarray:
    """The rows the trained model never saw, as the API receives them."""
    _, X_test, _, _ = holdout_split(synthetic_dataset, synthetic_manifest.seed)
    return X_test


# -- exactness ------------------------------------------------------------------------------


def test_contributions_equal_shaps_and_add_up_to_the_served_probability(
    synthetic_store: Path, held_out: np.ndarray
) -> None:
    """Every held-out row: our values against shap's C++ TreeSHAP on the same forest and
    the same float32 model inputs (computed by scikit-learn, not by our graph), and base +
    contributions against the probability the service serves."""
    store = ModelStore(synthetic_store)
    pipeline = load_pipeline(store, "production")
    forest = forests_of(pipeline)[0]
    inputs = Pipeline(pipeline.steps[:-1]).transform(held_out).astype(np.float32)
    reference = shap.TreeExplainer(forest, feature_perturbation="tree_path_dependent")
    expected = reference.shap_values(inputs.astype(np.float64))[..., 1]

    predictor = Predictor(store.load("production"))
    explained = predictor.explain(held_out)

    assert explained.contributions.shape == expected.shape == (len(held_out), forest.n_features_in_)
    assert np.max(np.abs(explained.contributions - expected)) <= TOLERANCE
    assert explained.base == pytest.approx(float(reference.expected_value[1]), abs=TOLERANCE)
    total = explained.base + explained.contributions.sum(axis=1)
    assert np.max(np.abs(total - predictor.predict_proba(held_out))) <= TOLERANCE
    # scoring with or without reasons serves the same bits
    assert np.array_equal(explained.probabilities, predictor.predict_proba(held_out))


def test_a_rows_contributions_do_not_depend_on_the_rest_of_the_call(
    synthetic_store: Path, held_out: np.ndarray
) -> None:
    predictor = Predictor(ModelStore(synthetic_store).load("production"), threads=2)
    rows = held_out[:40]
    together = predictor.explain(rows).contributions
    alone = np.vstack([predictor.explain(rows[i : i + 1]).contributions for i in range(len(rows))])
    reversed_ = predictor.explain(rows[::-1]).contributions[::-1]
    assert np.array_equal(together, alone)
    assert np.array_equal(together, reversed_)


def test_every_kernel_path_gives_the_same_bits(synthetic_store: Path, held_out: np.ndarray) -> None:
    """The scalar path, the baseline vector registers and (where the CPU has it) AVX2:
    the same operations in the same order, so every row's contributions are the same
    bits, which is what lets an executor on another CPU give the API's reasons."""
    from model_store.explainer import PATHS, available_paths

    loaded = ModelStore(synthetic_store).load("production")
    n_inputs = len(loaded.manifest.explainer.model_inputs)
    served = Predictor(loaded).explain(held_out).contributions  # auto: the widest path
    _, model_inputs = Predictor(loaded)._model.predict_with_inputs(held_out)
    paths = available_paths()
    assert {"scalar", "vector"} <= set(paths) <= set(PATHS) - {"auto"}
    print(f"kernel paths on this CPU: {paths}")
    results = {
        path: TreeExplainer(loaded.explainer, n_inputs, threads=1, path=path).contributions(
            model_inputs
        )
        for path in paths
    }
    for path, contributions in results.items():
        assert contributions.tobytes() == served.tobytes(), path
    with pytest.raises(ExplainerError, match="not available"):
        TreeExplainer(loaded.explainer, n_inputs, path="sse9")


def test_the_committed_quadrature_rules_are_gauss_legendres() -> None:
    """The kernel's nodes and weights are committed literals, the same bits everywhere;
    this holds them to numpy's `leggauss` on whatever machine runs the test, to a few
    units in the last place (the eigenvalue routine's own spread), and checks each rule
    integrates the polynomials it must exactly."""
    from model_store.explainer import MAX_RULE
    from model_store.quadrature import RULES

    assert len(RULES) == MAX_RULE
    for n, (node_literals, weight_literals) in enumerate(RULES, start=1):
        nodes = np.array([float.fromhex(v) for v in node_literals])
        weights = np.array([float.fromhex(v) for v in weight_literals])
        x, w = np.polynomial.legendre.leggauss(n)
        np.testing.assert_allclose(nodes, (x + 1) / 2, rtol=0, atol=4 * np.spacing(1.0))
        np.testing.assert_allclose(weights, w / 2, rtol=0, atol=4 * np.spacing(1.0))
        for degree in range(2 * n):  # exact up to degree 2n - 1 on [0, 1]
            assert abs(weights @ nodes**degree - 1 / (degree + 1)) < 1e-13


def test_a_tree_that_repeats_a_feature_is_explained_exactly() -> None:
    """Small deep trees on few features split on the same feature many times on one path,
    the case the kernel's `previous` bookkeeping exists for."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    y = (X[:, 0] + 0.5 * np.sin(3 * X[:, 1]) + rng.normal(scale=0.3, size=400) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=7, min_samples_leaf=2, random_state=0).fit(X, y)
    explainer = TreeExplainer(explainer_bytes(forest_explainer_arrays(forest)), 3, threads=1)
    ours = explainer.contributions(X[:100])
    theirs = shap.TreeExplainer(forest).shap_values(X[:100].astype(np.float64))[..., 1]
    assert np.max(np.abs(ours - theirs)) <= 1e-9
    total = explainer.base + ours.sum(axis=1)
    assert np.max(np.abs(total - forest.predict_proba(X[:100])[:, 1])) <= 1e-9


@pytest.mark.parametrize(
    "threshold", [0.1, float(np.float32(0.1)), 1.5, -2.75, 3e38, 1e300, -1e300, 0.0, -1e-310]
)
def test_a_row_goes_the_side_its_float64_comparison_says(threshold: float) -> None:
    """The kernel compares float inputs with float bounds (the largest float at most each
    float64 threshold): for every float the same answer as `x <= threshold` in float64,
    the thresholds' own floats and their neighbours included. One split, so a row's
    contribution is its side's value less the expected value."""
    left, right, cover = 0.25, 0.75, 0.4
    arrays = {
        "tree_start": np.array([0, 3]),
        "tree_rule": np.array([1], np.int32),
        "parent": np.array([-1, 0, 0], np.int32),
        "previous": np.array([-1, -1, -1], np.int32),
        "feature": np.zeros(3, np.int32),
        "lower": np.array([-np.inf, -np.inf, threshold]),
        "upper": np.array([np.inf, threshold, np.inf]),
        "cover": np.array([1.0, cover, 1 - cover]),
        "value": np.array([0.0, left, right]),
        "base": np.array(cover * left + (1 - cover) * right),
    }
    explainer = TreeExplainer(explainer_bytes(arrays), 1, threads=1)
    near = np.float32(np.clip(threshold, -3e38, 3e38))
    inputs = np.array([np.nextafter(near, -np.inf), near, np.nextafter(near, np.inf), np.inf])
    inputs = inputs.astype(np.float32)
    contributions = explainer.contributions(inputs[:, None])[:, 0]
    expected = np.where(inputs.astype(np.float64) <= threshold, left, right) - explainer.base
    np.testing.assert_allclose(contributions, expected, rtol=0, atol=1e-15)


def test_the_explainer_refuses_arrays_the_kernel_would_misread(synthetic_manifest, synthetic_store):
    store = ModelStore(synthetic_store)
    data = store.read_artifact(synthetic_manifest, "explainer.npz")
    n_inputs = len(synthetic_manifest.explainer.model_inputs)
    with np.load(io.BytesIO(data)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    broken_parent = {**arrays, "parent": arrays["parent"].copy()}
    broken_parent["parent"][5] = 10_000
    broken_feature = {**arrays, "feature": arrays["feature"].copy()}
    broken_feature["feature"][3] = n_inputs
    for broken in (broken_parent, broken_feature):
        with pytest.raises(ExplainerError):
            TreeExplainer(explainer_bytes(broken), n_inputs)
    with pytest.raises(ExplainerError):
        TreeExplainer(data, n_inputs).contributions(np.zeros((2, n_inputs - 1), np.float32))


# -- the catalogue --------------------------------------------------------------------------


def test_every_possible_model_input_belongs_to_exactly_one_reason() -> None:
    inputs = [*FEATURE_NAMES, *(n for group in ALL_GROUPS.values() for n in group.names)]
    claimed = [name for reason in REASONS for name in reason.inputs]
    assert sorted(claimed) == sorted(inputs)  # each exactly once, nothing else
    assert 8 <= len([r for r in REASONS if r.adverse_action]) <= 12
    with pytest.raises(ValueError, match="no reason code"):
        reason_columns(["limit_bal", "favourite_colour"])


def test_no_reason_given_for_a_decision_names_a_protected_attribute() -> None:
    for reason in REASONS:
        names_protected = set(reason.inputs) & set(PROTECTED_ATTRIBUTES)
        assert not names_protected or not reason.adverse_action
        if reason.adverse_action:
            text = reason.text.lower()
            assert not any(word in text for word in ("sex", "gender", "marri", "age "))
    # even when the protected entry carries the largest share
    by_reason = np.zeros((1, len(REASONS)))
    by_reason[0, CODES.index("PROTECTED_ATTRIBUTES")] = 0.5
    by_reason[0, CODES.index("CREDIT_LIMIT")] = 0.01
    assert top_reasons(by_reason) == [[CODES.index("CREDIT_LIMIT")]]


def test_the_default_model_leaves_the_protected_attributes_out(synthetic_manifest) -> None:
    assert synthetic_manifest.explainer is not None
    model_inputs = synthetic_manifest.explainer.model_inputs
    assert set(model_inputs).isdisjoint(PROTECTED_ATTRIBUTES)
    assert all(name in REASON_BY_INPUT for name in model_inputs)
    protected = synthetic_manifest.protected_attributes
    assert protected is not None
    assert not protected.in_model
    assert protected.held_out_without == synthetic_manifest.metrics
    assert protected.held_out_with.rows == synthetic_manifest.metrics.rows
    assert protected.held_out_with != protected.held_out_without


async def test_get_reasons_serves_the_catalogue(client: httpx.AsyncClient) -> None:
    response = await client.get("/reasons")
    assert response.status_code == 200
    body = response.json()
    assert body["max_reasons"] == MAX_REASONS
    assert [r["code"] for r in body["reasons"]] == CODES
    assert body["reasons"][0] == {
        "code": REASONS[0].code,
        "text": REASONS[0].text,
        "inputs": list(REASONS[0].inputs),
        "adverse_action": True,
    }


# -- the API --------------------------------------------------------------------------------


def _check_explained(answer: dict[str, Any]) -> None:
    explanation = answer["explanation"]
    assert list(explanation["contributions"]) == CODES
    total = explanation["base"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(answer["probability"], abs=TOLERANCE)
    reasons = answer["reasons"]
    assert len(reasons) <= MAX_REASONS
    values = [r["contribution"] for r in reasons]
    assert all(v > 0 for v in values)
    assert values == sorted(values, reverse=True)
    positive = sorted(
        (
            v
            for c, v in explanation["contributions"].items()
            if v > 0 and c != "PROTECTED_ATTRIBUTES"
        ),
        reverse=True,
    )
    assert values == positive[:MAX_REASONS]
    for reason in reasons:
        assert reason["contribution"] == explanation["contributions"][reason["code"]]
        assert reason["text"] == REASONS[CODES.index(reason["code"])].text
    assert explanation["contributions"]["PROTECTED_ATTRIBUTES"] == 0.0


async def test_explain_adds_reasons_and_leaves_the_answer_unchanged(
    client: httpx.AsyncClient,
) -> None:
    plain = (await client.post("/predict", json=EXAMPLE_CUSTOMER)).json()
    response = await client.post("/predict", params={"explain": "true"}, json=EXAMPLE_CUSTOMER)
    assert response.status_code == 200
    explained = response.json()
    assert "reasons" not in plain
    assert "explanation" not in plain
    assert {k: explained[k] for k in plain} == plain
    _check_explained(explained)
    off = (await client.post("/predict", params={"explain": "false"}, json=EXAMPLE_CUSTOMER)).json()
    assert off == plain


async def test_batch_explanations_match_one_at_a_time(client: httpx.AsyncClient) -> None:
    _, customers = synthetic_customers(60, seed=3)
    plain = (await client.post("/predict/batch", json={"customers": customers})).json()
    response = await client.post(
        "/predict/batch", params={"explain": "true"}, json={"customers": customers}
    )
    assert response.status_code == 200
    batch = response.json()
    assert all(set(p) == {"probability", "default", "score", "grade"} for p in plain["predictions"])
    for i, (with_reasons, without) in enumerate(
        zip(batch["predictions"], plain["predictions"], strict=True)
    ):
        assert {k: with_reasons[k] for k in without} == without
        _check_explained(with_reasons)
        if i < 5:
            single = (
                await client.post("/predict", params={"explain": "true"}, json=customers[i])
            ).json()
            assert single["reasons"] == with_reasons["reasons"]
            assert single["explanation"] == with_reasons["explanation"]
    assert any(p["reasons"] for p in batch["predictions"])


async def test_explain_must_be_a_boolean(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", params={"explain": "maybe"}, json=EXAMPLE_CUSTOMER)
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["explain"]


async def test_a_version_without_an_explainer_refuses_explain_with_409(
    tmp_path: Path, synthetic_store: Path
) -> None:
    store = store_without_reasons(synthetic_store, tmp_path / "store")
    async with asgi_client(ServiceSettings(model_store_dir=store.root)) as client:
        assert (await client.post("/predict", json=EXAMPLE_CUSTOMER)).status_code == 200
        refused = await client.post("/predict?explain=true", json=EXAMPLE_CUSTOMER)
        assert assert_problem(refused, 409)["type"].endswith("explanation-unavailable")
        assert_problem(await client.get("/models/production/report"), 404)


async def test_a_tampered_report_is_refused_with_a_problem(tmp_path: Path, synthetic_store: Path):
    target = tmp_path / "store"
    version = ModelStore(synthetic_store).export("production", target)
    path = target / version / "report.html"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"<h1>", b"<h1>forged "))
    async with asgi_client(ServiceSettings(model_store_dir=target)) as client:
        refused = await client.get("/models/production/report")
    body = assert_problem(refused, 503)
    assert "integrity check" in body["detail"]
    assert "forged" not in refused.text


async def test_a_tampered_explainer_is_refused_at_load(tmp_path: Path, synthetic_store: Path):
    source = ModelStore(synthetic_store)
    target = tmp_path / "store"
    version = source.export("production", target)
    path = target / version / "explainer.npz"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    async with asgi_client(ServiceSettings(model_store_dir=target)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "integrity" in ready.json()["detail"]


# -- the report -----------------------------------------------------------------------------


async def test_the_report_is_served_by_version_and_alias(
    client: httpx.AsyncClient, synthetic_manifest: ModelManifest
) -> None:
    by_alias = await client.get("/models/production/report")
    by_version = await client.get(f"/models/{synthetic_manifest.version}/report")
    assert by_alias.status_code == by_version.status_code == 200
    assert by_alias.content == by_version.content
    assert by_alias.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in by_alias.headers["content-security-policy"]
    page = by_alias.text
    for heading in (
        "Headline metrics",
        "ROC and precision-recall",
        "Reliability",
        "Score distributions",
        "The threshold and what it means",
        "Master scale",
        "Monotone in delay",
        "Global importance per reason",
        "Groups",
    ):
        assert f"<h2>{heading}</h2>" in page
    # curves, reliability, distributions, grades, importance
    assert page.count("<svg") == 5
    assert "<script" not in page
    for reference in ("src=", 'href="http', "<link", "@import", "url(http"):
        assert reference not in page  # (namespace URIs in the SVG are names, not requests)
    assert "female" in page
    assert "55 and over" in page
    assert_problem(await client.get("/models/19990101T000000000000Z-abcdef/report"), 404)
