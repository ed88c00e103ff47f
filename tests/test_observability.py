"""Metrics, structured logs and drift: /metrics parsed as Prometheus parses it (one worker
in process, two real workers summed), JSON and text log lines from a real server, and
PSI over decisions of the data set's own rows and of rows with the credit limit halved.
In process on the synthetic store; the real servers (slow) serve the real model."""

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model_store.drift import bin_shares, psi, reference_bins, status
from model_store.manifest import DriftBins
from schemas import EXAMPLE_CUSTOMER
from service.keys import new_key
from service.settings import ServiceSettings
from tests.support.models import store_without_reasons, synthetic_customers
from tests.support.servers import asgi_client, assert_problem, running_server, service_process

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, as the reference parser reads it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: dict, name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


# -- metrics ---------------------------------------------------------------------------------


async def test_metrics_count_requests_customers_and_refusals(
    synthetic_store: Path, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        model_store_dir=synthetic_store, decision_log_url=f"sqlite:///{tmp_path / 'log.sqlite3'}"
    )
    async with asgi_client(settings) as client:
        before = samples((await client.get("/metrics")).text)
        version = (await client.get("/health/ready")).json()["model_version"]
        _, bodies = synthetic_customers(30, seed=5)
        batch = (await client.post("/predict/batch", json={"customers": bodies})).json()
        one = (await client.post("/predict", json=EXAMPLE_CUSTOMER)).json()
        assert_problem(await client.post("/predict", json={**EXAMPLE_CUSTOMER, "age": 3}), 422)
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    defaults = sum(p["default"] for p in batch["predictions"]) + one["default"]
    scored = "credit_default_customers_scored_total"
    assert grew(scored, model_version=version, decision="default") == defaults
    assert grew(scored, model_version=version, decision="no_default") == 31 - defaults
    assert grew("credit_default_probability_count") == 31
    assert grew("credit_default_probability_sum") == pytest.approx(
        sum(p["probability"] for p in batch["predictions"]) + one["probability"]
    )
    requests = "credit_default_http_requests_total"
    assert grew(requests, route="/predict", method="POST", status="200") == 1
    assert grew(requests, route="/predict", method="POST", status="422") == 1
    assert grew(requests, route="/predict/batch", method="POST", status="200") == 1
    latency = "credit_default_http_request_duration_seconds_count"
    assert grew(latency, route="/predict", method="POST") == 2
    assert grew("credit_default_decision_log_write_seconds_count") >= 2
    assert value(after, "credit_default_model_loads_total", outcome="loaded") >= 1
    assert value(after, "credit_default_http_requests_in_flight") == 1  # this scrape
    assert grew("credit_default_decision_log_write_failures_total") == 0
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert "credit_default_decision_log_write_failures" in families


@pytest.mark.slow
def test_two_workers_report_their_sum(real_store: Path, tmp_path: Path) -> None:
    """prometheus-client's multiprocess mode: whichever worker answers the scrape, the
    figures are both workers' together."""
    log_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    server = service_process(real_store, 2, DECISION_LOG_URL=log_url)
    with server as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(40):
            assert client.post("/predict", json=EXAMPLE_CUSTOMER).status_code == 200
        scrapes = [samples(client.get("/metrics").text) for _ in range(6)]
        text = client.get("/metrics").text
    for parsed in scrapes:
        counted = sum(
            v for (name, _), v in parsed.items() if name == "credit_default_customers_scored_total"
        )
        assert counted == 40
        assert value(parsed, "credit_default_model_loads_total", outcome="loaded") == 2
    shown = ("credit_default_customers_scored_total", "credit_default_model_loads_total",
             'credit_default_http_requests_total{method="POST"')  # fmt: skip
    print("\n".join(line for line in text.splitlines() if line.startswith(shown)))


# -- logs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_json_logs_give_one_line_per_request_with_its_id(real_store: Path, tmp_path: Path) -> None:
    output = tmp_path / "server.log"
    key, digest = new_key()
    keys = json.dumps([{"id": "log-test", "digest": digest, "scopes": ["score"]}])
    # Two versions, the older one tampered with: asking for it makes the service log an
    # error while handling the request, which must carry that request's id.
    store = tmp_path / "store"
    old = store_without_reasons(real_store, store).resolve("production")
    store_without_reasons(real_store, store)
    tampered = store / old / "model.onnx"
    tampered.write_bytes(tampered.read_bytes()[:-4] + b"0000")
    with running_server(
        store, output=output, LOG_FORMAT="json", API_KEYS=keys, LOG_LEVEL="info"
    ) as url:
        headers = {"X-API-Key": key}
        ok = httpx.post(
            f"{url}/predict/batch",
            json={"customers": [EXAMPLE_CUSTOMER] * 3},
            headers={**headers, "X-Request-ID": "log-ok"},
        )
        refused = httpx.post(
            f"{url}/predict",
            json={**EXAMPLE_CUSTOMER, "age": 3},
            headers={**headers, "X-Request-ID": "log-refused"},
        )
        unauthorised = httpx.post(
            f"{url}/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "log-401"}
        )
        refused_model = httpx.post(
            f"{url}/predict",
            params={"version": old},
            json=EXAMPLE_CUSTOMER,
            headers={**headers, "X-Request-ID": "log-tampered"},
        )
    assert refused_model.status_code == 503
    assert (ok.status_code, refused.status_code, unauthorised.status_code) == (200, 422, 401)
    lines = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
    assert lines, output.read_text()[-2000:]
    by_id = {line["request_id"]: line for line in lines if line["logger"] == "service.access"}
    good = by_id["log-ok"]
    assert good["method"] == "POST"
    assert good["route"] == "/predict/batch"
    assert good["status"] == 200
    assert good["customers"] == 3
    assert good["key_id"] == "log-test"
    assert good["model_version"] == ok.json()["model_version"]
    assert good["duration_ms"] > 0
    assert good["level"] == "info"
    assert good["time"].endswith("+00:00")
    assert by_id["log-refused"]["status"] == 422
    assert by_id["log-refused"]["customers"] is None
    assert by_id["log-401"]["status"] == 401
    assert by_id["log-401"]["key_id"] is None
    [error] = [line for line in lines if line["level"] == "error"]
    assert error["request_id"] == "log-tampered"  # written deep in the request, in a thread
    assert error["message"].startswith(f"refused model {old}")
    assert by_id["log-tampered"]["status"] == 503
    assert key not in output.read_text()
    assert digest not in output.read_text()
    print("JSON access line:", json.dumps(good))
    print("JSON access line, refused:", json.dumps(by_id["log-refused"]))


@pytest.mark.slow
def test_text_logs_read_as_lines_with_the_request_id(real_store: Path, tmp_path: Path) -> None:
    output = tmp_path / "server.log"
    with running_server(real_store, output=output, LOG_LEVEL="info") as url:
        httpx.post(f"{url}/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "text-1"})
    [line] = [line for line in output.read_text().splitlines() if "[text-1]" in line]
    assert "POST /predict -> 200 in " in line
    assert "customers=1" in line
    assert not line.startswith("{")


# -- drift -----------------------------------------------------------------------------------


def test_psi_bins_and_bands() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=20_000)
    bins = reference_bins(values, integer=False)
    assert bins.kind == "deciles"
    assert len(bins.shares) == 10
    assert psi(np.asarray(bins.shares), bin_shares(rng.normal(size=20_000), bins)) < 0.01
    assert psi(np.asarray(bins.shares), bin_shares(rng.normal(1, size=20_000), bins)) > 0.25
    codes = reference_bins(np.array([1, 2, 2, 3]), integer=True)
    assert codes == DriftBins(kind="categories", edges=[1, 2, 3], shares=[0.25, 0.5, 0.25, 0])
    assert bin_shares(np.array([2, 9]), codes).tolist() == [0, 0.5, 0, 0.5]  # 9: never seen
    assert [status(0.05), status(0.1), status(0.25), status(0.26)] == [
        "stable", "watch", "watch", "act",
    ]  # fmt: skip


async def test_the_data_sets_own_rows_are_stable_and_a_halved_limit_is_flagged(
    synthetic_store: Path, tmp_path: Path
) -> None:
    """The data set's own rows: fresh draws of the synthetic rows the store was trained on."""
    _, bodies = synthetic_customers(4000, seed=21)
    halved = [{**body, "limit_bal": body["limit_bal"] / 2} for body in bodies]
    reports = {}
    for name, customers in (("own rows", bodies), ("limit_bal halved", halved)):
        url = f"sqlite:///{tmp_path / name.replace(' ', '-')}.sqlite3"
        settings = ServiceSettings(model_store_dir=synthetic_store, decision_log_url=url)
        async with asgi_client(settings) as client:
            assert_problem(await client.get("/monitoring/drift"), 409)  # nothing on record yet
            for start in range(0, len(customers), 1000):
                part = {"customers": customers[start : start + 1000]}
                assert (await client.post("/predict/batch", json=part)).status_code == 200
            reports[name] = (await client.get("/monitoring/drift")).json()
            gauges = samples((await client.get("/metrics")).text)
        assert reports[name]["window"] == 4000
        assert value(gauges, "credit_default_psi", feature="limit_bal") == pytest.approx(
            reports[name]["inputs"]["limit_bal"]["psi"]
        )
    own, shifted = reports["own rows"], reports["limit_bal halved"]
    assert {name: d["status"] for name, d in own["inputs"].items()} == dict.fromkeys(
        own["inputs"], "stable"
    )
    assert max(d["psi"] for d in own["inputs"].values()) < 0.1
    assert shifted["inputs"]["limit_bal"]["psi"] > 0.25
    assert shifted["inputs"]["limit_bal"]["status"] == "act"
    assert shifted["inputs"]["age"]["psi"] == own["inputs"]["age"]["psi"]  # only the limit moved
    largest = max(own["inputs"], key=lambda name: own["inputs"][name]["psi"])
    print(
        f"PSI, data set rows: largest input {largest} {own['inputs'][largest]['psi']:.4f}, "
        f"score {own['score']['psi']:.4f}"
    )
    print(
        f"PSI, limit_bal halved: limit_bal {shifted['inputs']['limit_bal']['psi']:.3f} "
        f"({shifted['inputs']['limit_bal']['status']}), score {shifted['score']['psi']:.4f} "
        f"({shifted['score']['status']})"
    )


async def test_drift_says_why_it_cannot_be_measured(synthetic_store: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_store_dir=synthetic_store, decision_log_url="none")
    async with asgi_client(settings) as client:
        problem = assert_problem(await client.get("/monitoring/drift"), 409)
        assert "DECISION_LOG_URL=none" in problem["detail"]
    store_without_reasons(synthetic_store, tmp_path / "old-store")
    settings = ServiceSettings(
        model_store_dir=tmp_path / "old-store",
        decision_log_url=f"sqlite:///{tmp_path / 'old.sqlite3'}",
    )
    async with asgi_client(settings) as client:
        await client.post("/predict", json=EXAMPLE_CUSTOMER)
        problem = assert_problem(await client.get("/monitoring/drift"), 409)
        assert "before drift references" in problem["detail"]
