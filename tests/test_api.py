"""Every endpoint and error path, over HTTP semantics with httpx against the ASGI app, on the
synthetic store (what they promise holds for any trained model)."""

import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from model_store import ModelManifest, ModelStore
from model_store.runtime import CompiledModel
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES, MAX_BATCH_SIZE
from service.app import create_app
from service.settings import ServiceSettings
from tests.support.models import train_small
from tests.support.servers import asgi_client, assert_problem
from train.artifacts import IncompatibleModelError, load_pipeline

pytestmark = pytest.mark.anyio


def customer(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_CUSTOMER, **changes}


def offline_probability(store: Path, body: dict[str, Any], ref: str = "production") -> float:
    """What the version's compiled form gives for `body` outside the service, after
    checking it against the joblib pipeline it was compiled from."""
    loaded = ModelStore(store).load(ref)
    row = np.array([[body[n] for n in FEATURE_NAMES]], dtype=float)
    compiled = float(CompiledModel(loaded.compiled).predict_proba(row)[0])
    reference = float(load_pipeline(ModelStore(store), ref).predict_proba(row)[0, 1])
    assert compiled == pytest.approx(reference, abs=1e-6)
    return compiled


async def test_predict_returns_the_models_probability_and_decision(
    client: httpx.AsyncClient, synthetic_store: Path
) -> None:
    response = await client.post("/predict", json=EXAMPLE_CUSTOMER)
    assert response.status_code == 200
    body = response.json()
    manifest = ModelStore(synthetic_store).get("production")
    assert set(body) == {"probability", "default", "threshold", "score", "grade", "model_version"}
    assert body["model_version"] == manifest.version
    assert body["threshold"] == manifest.threshold.value
    assert body["probability"] == pytest.approx(
        offline_probability(synthetic_store, EXAMPLE_CUSTOMER), abs=1e-12
    )
    assert body["default"] == (body["probability"] >= body["threshold"])


async def test_risky_and_safe_customers_get_different_decisions(client: httpx.AsyncClient) -> None:
    risky = customer(
        pay_0=3, pay_2=2, pay_3=2, pay_4=2, pay_5=2, pay_6=2, pay_amt1=0, pay_amt2=0, pay_amt3=0
    )
    safe = customer(limit_bal=500000, pay_0=-1, pay_2=-1, pay_3=-1, pay_4=-1, pay_5=-1, pay_6=-1)
    risky_body = (await client.post("/predict", json=risky)).json()
    safe_body = (await client.post("/predict", json=safe)).json()
    assert risky_body["probability"] > 0.5 > safe_body["probability"]
    assert risky_body["default"] is True
    assert safe_body["default"] is False


async def test_batch_matches_single_predictions_in_order(client: httpx.AsyncClient) -> None:
    customers = [customer(age=20 + i, pay_0=i % 4 - 1, bill_amt1=1000.0 * i) for i in range(25)]
    batch = await client.post("/predict/batch", json={"customers": customers})
    assert batch.status_code == 200
    body = batch.json()
    assert body["count"] == 25
    assert len(body["predictions"]) == 25
    for sent, scored in zip(customers, body["predictions"], strict=True):
        single = (await client.post("/predict", json=sent)).json()
        assert scored["probability"] == single["probability"]
        assert scored["default"] == single["default"]
    assert body["model_version"] == single["model_version"]


async def test_batch_of_the_maximum_size_is_scored(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict/batch", json={"customers": [EXAMPLE_CUSTOMER] * MAX_BATCH_SIZE}
    )
    assert response.status_code == 200
    assert response.json()["count"] == MAX_BATCH_SIZE


async def test_batch_with_one_bad_item_scores_nothing_and_names_it(
    client: httpx.AsyncClient,
) -> None:
    customers = [customer(), customer(), customer(age=150), customer(limit_ball=1)]
    body = assert_problem(await client.post("/predict/batch", json={"customers": customers}), 422)
    assert [(e["field"], e["type"]) for e in body["errors"]] == [
        ("customers[2].age", "less_than_equal"),
        ("customers[3].limit_ball", "extra_forbidden"),
    ]


@pytest.mark.parametrize(("size", "rule"), [(0, "too_short"), (MAX_BATCH_SIZE + 1, "too_long")])
async def test_batch_size_limits_are_problems(
    client: httpx.AsyncClient, size: int, rule: str
) -> None:
    body = assert_problem(
        await client.post("/predict/batch", json={"customers": [EXAMPLE_CUSTOMER] * size}), 422
    )
    assert body["errors"][0] == {
        "field": "customers",
        "message": body["errors"][0]["message"],
        "type": rule,
    }


@pytest.mark.parametrize(
    ("raw_value", "rule"),
    [
        ("NaN", "finite_number"),
        ("Infinity", "finite_number"),
        ("-Infinity", "finite_number"),
        ('"50000"', "float_type"),
        ("true", "float_type"),
        ("null", "float_type"),
        ("1e400", "finite_number"),
    ],
)
async def test_non_finite_and_wrongly_typed_amounts_are_named(
    client: httpx.AsyncClient, raw_value: str, rule: str
) -> None:
    text = json.dumps(customer(limit_bal=12345)).replace("12345", raw_value)
    response = await client.post(
        "/predict", content=text, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {"field": "limit_bal", "message": body["errors"][0]["message"], "type": rule}
    ]
    assert "12345" not in response.text  # the input is never echoed back
    assert raw_value not in response.text


async def test_every_broken_field_is_listed_with_its_rule(client: httpx.AsyncClient) -> None:
    body = customer(sex=1.5, age="35", limit_ball=5)
    del body["pay_6"]
    problem = assert_problem(await client.post("/predict", json=body), 422)
    assert {(e["field"], e["type"]) for e in problem["errors"]} == {
        ("sex", "int_type"),
        ("age", "int_type"),
        ("pay_6", "missing"),
        ("limit_ball", "extra_forbidden"),
    }
    assert problem["type"].endswith("validation-error")
    assert problem["instance"] == "/predict"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"limit_bal": ', "application/json", 400),
        (b"", "application/json", 422),
        (b"[1, 2, 3]", "application/json", 422),
        (b"limit_bal=1", "application/x-www-form-urlencoded", 422),
        (b"\xff\xfe\x00", "application/json", 400),
    ],
)
async def test_malformed_bodies_are_problems(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    response = await client.post(
        "/predict", content=content, headers={"content-type": content_type}
    )
    body = assert_problem(response, status)
    assert body["errors"][0]["field"] == "body"


def _repeating(key: str, body: str) -> str:
    """`body` (one customer's JSON object) with `key` given a second time, at the end."""
    return body[:-1] + f', "{key}": 1' + "}"


@pytest.mark.parametrize("subjects", [None, ["acct-1", "acct-2"]])
async def test_a_repeated_key_is_refused_by_name_wherever_it_is(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, subjects: list[str] | None
) -> None:
    """Whichever path proves a batch free of repeats (the quote count, for customers'
    numbers and subject ids; the strict parse otherwise), a repeat is refused and named,
    and a body without one is scored without a second parse."""
    import service.body

    strict_parses: list[bytes] = []
    strict = service.body._strict_parse
    monkeypatch.setattr(
        service.body, "_strict_parse", lambda body: strict_parses.append(body) or strict(body)
    )
    one = json.dumps(EXAMPLE_CUSTOMER)
    extra = f', "subject_ids": {json.dumps(subjects)}' if subjects else ""
    headers = {"content-type": "application/json"}
    for customers, status in (
        (f"[{one}, {one}]", 200),
        (f"[{one}, {_repeating('age', one)}]", 400),
    ):
        response = await client.post(
            "/predict/batch", content=f'{{"customers": {customers}{extra}}}', headers=headers
        )
        if status == 200:
            assert response.status_code == 200, response.text
            assert strict_parses == []  # the quote count was proof enough
        else:
            problem = assert_problem(response, 400)
            assert problem["errors"][0]["type"] == "duplicate_key"
            assert "'age'" in problem["errors"][0]["message"]
    single = await client.post("/predict", content=_repeating("sex", one), headers=headers)
    assert assert_problem(single, 400)["errors"][0]["message"] == "duplicate key 'sex'"


async def test_a_named_version_is_used_and_unknown_versions_are_404(
    client: httpx.AsyncClient, synthetic_store: Path
) -> None:
    version = ModelStore(synthetic_store).resolve("production")
    named = await client.post("/predict", params={"version": version}, json=EXAMPLE_CUSTOMER)
    assert named.status_code == 200
    assert named.json()["model_version"] == version
    by_alias = await client.post(
        "/predict/batch", params={"version": "production"}, json={"customers": [EXAMPLE_CUSTOMER]}
    )
    assert by_alias.json()["model_version"] == version
    for unknown in ("20990101T000000000000Z-abcdef", "staging", "../models"):
        body = assert_problem(
            await client.post("/predict", params={"version": unknown}, json=EXAMPLE_CUSTOMER), 404
        )
        assert body["type"].endswith("model-not-found")


@pytest.mark.slow  # trains models of its own
async def test_predict_with_another_stored_version(tmp_path: Path, data_path: Path) -> None:
    """Two versions in one store: ?version= scores with the other one, and says so."""
    store = tmp_path / "two-versions"
    for seed in ("1", "2"):  # two genuinely different models
        train_small(store, data_path, "--seed", seed)
    older, newer = sorted(m.version for m in ModelStore(store).list())
    app = create_app(ServiceSettings(model_store_dir=store))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        served = (await client.post("/predict", json=EXAMPLE_CUSTOMER)).json()
        other = (
            await client.post("/predict", params={"version": older}, json=EXAMPLE_CUSTOMER)
        ).json()
        listing = (await client.get("/models")).json()
    assert served["model_version"] == newer
    assert other["model_version"] == older
    assert other["probability"] != served["probability"]
    assert other["probability"] == pytest.approx(
        offline_probability(store, EXAMPLE_CUSTOMER, older), abs=1e-12
    )
    assert listing["serving_version"] == newer
    assert [m["version"] for m in listing["models"]] == [newer, older]
    assert [m["serving"] for m in listing["models"]] == [True, False]
    assert listing["models"][0]["aliases"] == ["production"]


@pytest.mark.slow  # trains models of its own
async def test_a_tampered_version_is_refused_when_asked_for(
    tmp_path: Path, data_path: Path
) -> None:
    store = tmp_path / "tampered"
    train_small(store, data_path, "--no-promote")
    version = ModelStore(store).latest()
    model_file = store / version / ModelStore(store).get(version).compiled.served_file
    model_file.chmod(0o600)
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"0123456789")
    app = create_app(ServiceSettings(model_store_dir=store, model_version=version))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = assert_problem(await client.get("/health/ready"), 503)
        named = assert_problem(
            await client.post("/predict", params={"version": version}, json=EXAMPLE_CUSTOMER), 503
        )
    assert "integrity check" in ready["detail"]
    assert "integrity check" in named["detail"]


async def test_serving_reads_neither_the_pickle_nor_its_scikit_learn_version(
    tmp_path: Path, synthetic_store: Path
) -> None:
    """A version pickled by another scikit-learn still serves, with the same answer, and so
    does one whose pickle was replaced: the service reads the compiled model only."""
    source = ModelStore(synthetic_store)
    manifest = source.get("production")
    other = manifest.model_copy(
        update={"libraries": manifest.libraries.model_copy(update={"scikit_learn": "0.24.2"})}
    )
    artifacts = {
        name: source.read_artifact(manifest, name) for name in manifest.artifact_checksums()
    } | {"model.joblib": b"not a pickle at all"}

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        return other.model_copy(
            update={"version": version, "model_sha256": checksums["model.joblib"]}
        )

    store = ModelStore(tmp_path / "other-sklearn")
    saved = store.save(artifacts, build)
    store.promote(saved.version, by="tests", reason="a version from another scikit-learn")
    async with asgi_client(ServiceSettings(model_store_dir=store.root)) as client:
        answer = (await client.post("/predict", json=EXAMPLE_CUSTOMER)).json()
        details = (await client.get("/models/production")).json()
    assert answer["model_version"] == saved.version
    assert answer["probability"] == offline_probability(synthetic_store, EXAMPLE_CUSTOMER)
    assert details["libraries"]["scikit_learn"] == "0.24.2"
    with pytest.raises(IncompatibleModelError, match=r"0\.24\.2"):
        load_pipeline(store, "production")  # the check still guards unpickling


async def test_models_endpoints_show_versions_and_manifests(
    client: httpx.AsyncClient, synthetic_store: Path
) -> None:
    listing = await client.get("/models")
    assert listing.status_code == 200
    models = listing.json()["models"]
    assert len(models) == 1
    assert models[0]["serving"] is True
    assert set(models[0]["metrics"]) >= {"roc_auc", "brier", "ece"}
    version = models[0]["version"]
    manifest = await client.get(f"/models/{version}")
    assert manifest.status_code == 200
    details = manifest.json()
    assert details.pop("serving_engine").startswith("onnxruntime ")
    assert details == json.loads((synthetic_store / version / "manifest.json").read_text())
    assert (await client.get("/models/production")).json()["version"] == version
    assert_problem(await client.get("/models/20990101T000000000000Z-abcdef"), 404)


async def test_health_endpoints(client: httpx.AsyncClient, synthetic_store: Path) -> None:
    assert (await client.get("/health/live")).json() == {"status": "alive", "model_version": None}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model_version": ModelStore(synthetic_store).resolve("production"),
    }


async def test_an_empty_store_starts_but_is_not_ready(empty_client: httpx.AsyncClient) -> None:
    assert (await empty_client.get("/health/live")).status_code == 200
    ready = assert_problem(await empty_client.get("/health/ready"), 503)
    assert "holds no model versions" in ready["detail"]
    assert "python -m train" in ready["detail"]
    predict = await empty_client.post("/predict", json=EXAMPLE_CUSTOMER)
    assert_problem(predict, 503)
    assert predict.headers["retry-after"]
    assert_problem(
        await empty_client.post("/predict/batch", json={"customers": [EXAMPLE_CUSTOMER]}), 503
    )
    assert (await empty_client.get("/models")).json() == {"serving_version": None, "models": []}


@pytest.mark.slow  # trains models of its own
async def test_an_unset_alias_says_how_to_promote(tmp_path: Path, data_path: Path) -> None:
    store = tmp_path / "unpromoted"
    train_small(store, data_path, "--no-promote")
    app = create_app(ServiceSettings(model_store_dir=store))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = assert_problem(await client.get("/health/ready"), 503)
    assert "alias 'production' is not set" in ready["detail"]
    assert "python -m model_store promote" in ready["detail"]


async def test_request_ids_are_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"x-request-id": "bank-42.abc"})
    assert echoed.headers["x-request-id"] == "bank-42.abc"
    generated = await client.get("/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = await client.get("/health/live", headers={"x-request-id": "a b<script>"})
    assert unsafe.headers["x-request-id"] != "a b<script>"
    error = await client.post("/predict", json={}, headers={"x-request-id": "trace-1"})
    assert error.headers["x-request-id"] == "trace-1"
    assert error.json()["request_id"] == "trace-1"


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)
    body = assert_problem(await client.get("/predict"), 405)
    assert "GET" in body["detail"]


async def test_an_unexpected_failure_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_store.runtime import Predictor

    def explode(self: Predictor, rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("secret internal detail at /work/main/service/predictor.py")

    monkeypatch.setattr(Predictor, "predict_proba", explode)
    response = await client.post("/predict", json=EXAMPLE_CUSTOMER)
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert body["type"].endswith("internal-error")


async def test_docs_and_redoc_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "credit-default"


async def test_the_documented_example_succeeds(client: httpx.AsyncClient) -> None:
    """What /docs "Try it out" sends: the example embedded in the OpenAPI document."""
    document = (await client.get("/openapi.json")).json()
    example = document["components"]["schemas"]["CustomerFeatures"]["examples"][0]
    assert (await client.post("/predict", json=example)).status_code == 200
    batch_example = document["components"]["schemas"]["BatchRequest"]["examples"][0]
    assert (await client.post("/predict/batch", json=batch_example)).status_code == 200


def test_probability_is_finite_for_extreme_but_valid_inputs(synthetic_store: Path) -> None:
    extreme = customer(limit_bal=1e-3, bill_amt1=-1e9, bill_amt2=1e9, pay_amt1=1e9)
    assert math.isfinite(offline_probability(synthetic_store, extreme))
