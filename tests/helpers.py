"""Small builders shared by tests that need a model or a manifest without real training."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

from model_store import library_versions
from schemas import (
    FEATURE_NAMES,
    CustomerFeatures,
    DataProvenance,
    DecisionThreshold,
    ModelManifest,
)
from service.app import create_app
from service.settings import ServiceSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m train` in a child process, exactly as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "train", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def train_small(store: Path, data_path: Path, *extra: str) -> None:
    """A quick model on 2,000 rows of the real data: enough for a second version in a store."""
    result = run_train(
        "--quick", "--sample-rows", "2000", "--data", str(data_path), "--store", str(store), *extra
    )
    assert result.returncode == 0, result.stderr


def tiny_model(seed: int = 0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, len(FEATURE_NAMES)))
    y = (X[:, 0] > 0).astype(int)
    return LogisticRegression().fit(X, y)


def manifest_builder(**overrides: Any):
    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        fields: dict[str, Any] = {
            "version": version,
            "created_at": datetime.now(UTC),
            "model_file": "model.joblib",
            "model_sha256": checksums["model.joblib"],
            "data": DataProvenance(
                file_name="x.csv",
                sha256="0" * 64,
                rows=60,
                rows_used=60,
                rows_rejected=0,
                rejected_reasons={},
            ),
            "feature_names": list(FEATURE_NAMES),
            "feature_schema": CustomerFeatures.model_json_schema(),
            "engineered_features": [],
            "hyperparameters": {},
            "calibration": {},
            "cv_results": {},
            "metrics": {"roc_auc": 0.5, "brier": 0.25},
            "baseline": {},
            "threshold": DecisionThreshold(value=0.5, rule="test"),
            "seed": 0,
            "quick": True,
            "training_seconds": 0.0,
            "libraries": library_versions(),
        }
        fields.update(overrides)
        return ModelManifest(**fields)

    return build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    command: list[str],
    port: int,
    ready_path: str = "/health/live",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until `ready_path` answers 200 on 127.0.0.1:`port`; stop it
    on exit. Its output goes to a file, never a pipe nobody reads (a full pipe would stall
    the server and the measurement with it)."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    url = f"http://127.0.0.1:{port}{ready_path}"
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"{command[:3]} did not become ready:\n{output}")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running_server(store: Path, **settings: str) -> Iterator[str]:
    """`python -m service` on a free port of 127.0.0.1, serving `store`; yields its URL."""
    port = free_port()
    env = {"MODEL_STORE_DIR": str(store), "HOST": "127.0.0.1", "PORT": str(port), **settings}
    with serve([sys.executable, "-m", "service"], port, env=env, timeout=60):
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def asgi_client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    """httpx speaking real HTTP semantics to the ASGI app, with its start-up run."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


PROBLEM_MEDIA_TYPE = "application/problem+json"
# Nothing internal may appear in an error body.
LEAKS = ("Traceback", "/work/", ".py", "scikit-learn", "onnxruntime")


def assert_problem(
    response: httpx.Response, status: int, secrets: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status that leaks nothing."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    assert body["request_id"] == response.headers["x-request-id"]
    for leak in (*LEAKS, *secrets):
        assert leak not in response.text
    return body
