"""The serving core's promises: the process loads compiled artifacts only, and a customer
gets the same probability, bit for bit, from every path and at every batch size."""

import dataclasses
import http.client
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_store import ModelStore
from model_store.runtime import Predictor
from portfolio.local import score_file
from schemas.features import DATASET_COLUMNS, FEATURE_NAMES
from tests.support import PROJECT_ROOT
from tests.support.data import INT_FIELDS
from tests.support.servers import free_port, serve

TRAINING_LIBRARIES = {
    *("sklearn", "scipy", "pandas", "joblib", "skl2onnx", "onnx", "matplotlib"),
    *("shap", "numba", "llvmlite"),  # the explainer is arrays and a C kernel
}

_START_AND_SCORE = """
import asyncio, sys
import httpx
from schemas import EXAMPLE_CUSTOMER
from service.app import create_app
from service.settings import ServiceSettings

app = create_app(ServiceSettings(model_store_dir=sys.argv[1]))

async def main():
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://t"
    ) as client:
        assert (await client.post("/predict", json=EXAMPLE_CUSTOMER)).status_code == 200
        batch = {"customers": [EXAMPLE_CUSTOMER] * 1000}
        assert (await client.post("/predict/batch", json=batch)).status_code == 200
        explained = await client.post("/predict/batch?explain=true", json=batch)
        assert explained.status_code == 200 and explained.json()["predictions"][0]["reasons"]
        assert (await client.get("/models/production")).status_code == 200
        assert (await client.get("/models/production/report")).status_code == 200

asyncio.run(main())
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_service_process_imports_no_training_library(synthetic_store: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _START_AND_SCORE, str(synthetic_store)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    assert "onnxruntime" in imported
    assert imported & TRAINING_LIBRARIES == set()


def _all_rows(data_path: Path) -> tuple[pd.DataFrame, list[dict]]:
    frame = pd.read_csv(data_path)
    features = frame[list(DATASET_COLUMNS)].rename(columns=DATASET_COLUMNS)[list(FEATURE_NAMES)]
    bodies = [
        {name: int(value) if name in INT_FIELDS else float(value) for name, value in row.items()}
        for row in features.to_dict("records")
    ]
    return frame, bodies


@pytest.mark.slow
def test_every_path_gives_every_row_the_same_bits(
    real_store: Path, data_path: Path, tmp_path: Path
) -> None:
    """All 24,000 rows: /predict one by one; /predict/batch in batches of 1, 7, 1,000 and
    10,000 and shuffled; the file scorer. Every probability equal, not merely close."""
    frame, bodies = _all_rows(data_path)
    port = free_port()
    env = {"MODEL_STORE_DIR": str(real_store), "PORT": str(port), "LOG_LEVEL": "warning"}
    with serve([sys.executable, "-m", "service"], port, "/health/ready", env=env) as process:
        # A plain keep-alive connection: 72,000 requests, where the client's own cost counts.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def post(path: str, body: object) -> dict:
            headers = {"Content-Type": "application/json"}
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            payload = response.read()
            assert response.status == 200, payload
            return json.loads(payload)

        single = np.array([post("/predict", body)["probability"] for body in bodies])

        def batched(size: int, order: np.ndarray) -> np.ndarray:
            result = np.empty(len(bodies))
            for start in range(0, len(order), size):
                rows = order[start : start + size]
                answer = post("/predict/batch", {"customers": [bodies[i] for i in rows]})
                result[rows] = [p["probability"] for p in answer["predictions"]]
            return result

        in_order = np.arange(len(bodies))
        for size in (1, 7, 1_000, 10_000):
            assert np.array_equal(batched(size, in_order), single), f"batches of {size}"
        shuffled = np.random.default_rng(0).permutation(len(bodies))
        assert np.array_equal(batched(10_000, shuffled), single), "shuffled batches"
        mapped = Path(f"/proc/{process.pid}/maps").read_text()
        connection.close()

    # The real server mapped no compiled part of a training library either.
    assert not [lib for lib in ("/sklearn/", "/scipy/", "/pandas/") if lib in mapped]

    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    scorer = Predictor(ModelStore(real_store).load("production"))
    score_file(source, tmp_path / "scored.csv", scorer)
    from_file = pd.read_csv(tmp_path / "scored.csv")["probability"].to_numpy()
    assert np.array_equal(from_file, single), "file scorer"
    print(f"{len(single)} rows: /predict, batches of 1, 7, 1000, 10000, shuffled, file: identical")


def test_an_ort_format_this_runtime_cannot_read_falls_back_to_the_same_bits(
    synthetic_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime's own format has changed between its releases: a version whose ORT
    file this runtime cannot open serves from its checked ONNX form, with the same bits,
    and says so in the log. Without that form, the load fails."""
    loaded = ModelStore(synthetic_store).load("production")
    assert loaded.manifest.compiled.ort is not None
    assert loaded.onnx is not None
    rows = np.random.default_rng(0).integers(0, 5, size=(50, len(FEATURE_NAMES))) * 1000.0
    unreadable = dataclasses.replace(loaded, compiled=b"an ORT format from another release")
    with caplog.at_level("WARNING", logger="model_store.runtime"):
        fallen_back = Predictor(unreadable, threads=1)
    assert "opening its ONNX form" in caplog.text
    assert np.array_equal(
        fallen_back.predict_proba(rows), Predictor(loaded, threads=1).predict_proba(rows)
    )
    with pytest.raises(Exception, match=r"(?i)protobuf|load|model"):
        Predictor(dataclasses.replace(unreadable, onnx=None), threads=1)
