"""The real thing: `python -m service` under uvicorn, called over a TCP socket on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from model_store import ModelStore
from schemas import EXAMPLE_CUSTOMER
from tests.helpers import PROJECT_ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(store: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODEL_STORE_DIR": str(store), "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not start:\n{process.communicate()[0]}"
                    ) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_real_server_scores_over_a_socket(trained_store: Path) -> None:
    version = ModelStore(trained_store).resolve("production")
    with running_server(trained_store) as base, httpx.Client(base_url=base, timeout=10) as client:
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
