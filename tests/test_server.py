"""The real thing: `python -m service` under uvicorn, called over a TCP socket on 127.0.0.1."""

from pathlib import Path

import httpx
import pytest

from model_store import ModelStore
from schemas import EXAMPLE_CUSTOMER
from tests.support.servers import running_server

pytestmark = pytest.mark.slow


def test_real_server_scores_over_a_socket(real_store: Path) -> None:
    version = ModelStore(real_store).resolve("production")
    with running_server(real_store) as base, httpx.Client(base_url=base, timeout=10) as client:
        ready = client.get("/health/ready")
        assert ready.json() == {"status": "ready", "model_version": version}
        response = client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "socket-test"}
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "socket-test"
        assert "server" not in response.headers  # no software banner
        body = response.json()
        assert body["model_version"] == version
        assert 0.0 <= body["probability"] <= 1.0
        # A NaN body over the wire: FastAPI's stock handler would answer 500 here.
        bad = client.post(
            "/predict",
            content=b'{"limit_bal": NaN}',
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        docs = client.get("/docs")
        assert docs.status_code == 200


def test_real_server_on_an_empty_store_starts_not_ready(tmp_path: Path) -> None:
    with running_server(tmp_path / "empty") as base:
        assert httpx.get(f"{base}/health/live").status_code == 200
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 503
        assert "no model versions" in ready.json()["detail"]
        assert httpx.post(f"{base}/predict", json=EXAMPLE_CUSTOMER).status_code == 503


def test_a_fresh_decision_log_is_migrated_by_the_start_up_child(
    synthetic_store: Path, tmp_path: Path
) -> None:
    """`python -m service` on a database without tables: the spawned child migrates it
    (it must import its target: one in `service/__main__.py` it cannot), and the start
    prints no traceback."""
    from service.decisions.store import HEAD_REVISION, DecisionStore

    database = f"sqlite:///{tmp_path / 'fresh.db'}"
    output = tmp_path / "server.log"
    with running_server(synthetic_store, output, DECISION_LOG_URL=database) as base:
        assert httpx.post(f"{base}/predict", json=EXAMPLE_CUSTOMER).status_code == 200
    printed = output.read_text()
    assert "Traceback" not in printed, printed
    store = DecisionStore(database, 5)
    try:
        assert store.revision() == (HEAD_REVISION, HEAD_REVISION)
    finally:
        store.close()
