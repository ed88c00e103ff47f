"""The one support module of the tests: servers, clients, training runs, store builders
and the problem assertion. Tests import from here (and conftest's fixtures), never from
each other."""

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from model_store import ModelStore
from model_store.manifest import (
    Baseline,
    Calibration,
    CompiledArtifact,
    CrossValidation,
    DataProvenance,
    DecisionThreshold,
    ForestParameters,
    HeldOutMetrics,
    Hyperparameters,
    LibraryVersions,
    ModelManifest,
)
from schemas import FEATURE_NAMES, CustomerFeatures
from schemas.features import DATASET_COLUMNS
from service.app import create_app
from service.settings import ServiceSettings
from train.settings import TrainSettings

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


def store_without_reasons(source: Path, target: Path) -> ModelStore:
    """A store whose production version is the source's compiled model with no explainer,
    report or drift reference: a version trained before reason codes."""
    store = ModelStore(source)
    manifest = store.get("production")
    old = manifest.model_copy(update={"explainer": None, "report": None, "drift_reference": None})
    artifacts = {"model.joblib": b"unused", "model.onnx": store.load().compiled}

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        update = {"version": version, "model_sha256": checksums["model.joblib"]}
        return old.model_copy(update=update)

    copy = ModelStore(target)
    copy.promote(copy.save(artifacts, build).version)
    return copy


def fake_artifacts(seed: int = 0) -> dict[str, bytes]:
    """Artifact files for store tests: the store handles bytes and never parses them."""
    return {"model.joblib": f"pipeline {seed}".encode(), "model.onnx": f"graph {seed}".encode()}


def _metrics(auc: float, brier: float) -> HeldOutMetrics:
    return HeldOutMetrics(
        roc_auc=auc, pr_auc=0.5, brier=brier, log_loss=0.5, ece=0.01, accuracy=0.8,
        precision=0.5, recall=0.5, f1=0.5, threshold=0.5, rows=60,
    )  # fmt: skip


def manifest_builder(**overrides: Any):
    """A `build_manifest` for ModelStore.save with plausible, fully typed fields."""
    forest = ForestParameters(
        n_estimators=10, criterion="gini", max_features=0.3, min_samples_leaf=50
    )

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        fields: dict[str, Any] = {
            "version": version,
            "created_at": datetime.now(UTC),
            "model_file": "model.joblib",
            "model_sha256": checksums["model.joblib"],
            "compiled": CompiledArtifact(
                file="model.onnx",
                sha256=checksums["model.onnx"],
                engine="onnxruntime test",
                max_abs_difference=0.0,
                verified_rows=60,
            ),
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
            "hyperparameters": Hyperparameters(forest=forest, feature_groups=[], chosen_by="test"),
            "calibration": Calibration(
                method="none", chosen_by="test", cv_brier={}, wrapper=None, cv_folds=3
            ),
            "cv_results": CrossValidation(
                folds=3,
                roc_auc_per_fold=[0.5, 0.5, 0.5],
                roc_auc_mean=0.5,
                roc_auc_std=0.0,
                train_rows=48,
                holdout_rows=12,
            ),
            "metrics": _metrics(0.5, 0.25),
            "baseline": Baseline(
                description="test", hyperparameters=forest, metrics=_metrics(0.5, 0.25)
            ),
            "threshold": DecisionThreshold(value=0.5, rule="test"),
            "seed": 0,
            "quick": True,
            "training_seconds": 0.0,
            "libraries": LibraryVersions(
                python="3.11",
                scikit_learn="1.0",
                numpy="2.0",
                joblib="1.0",
                pandas="2.0",
                onnxruntime="1.0",
                skl2onnx="1.0",
            ),
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
    output: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until `ready_path` answers 200 on 127.0.0.1:`port`; stop it
    on exit. Its output goes to a file (`output`, or a temporary one), never a pipe nobody
    reads (a full pipe would stall the server and the measurement with it)."""
    with output.open("w+b") if output else tempfile.TemporaryFile() as log:
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
def running_server(store: Path, output: Path | None = None, **settings: str) -> Iterator[str]:
    """`python -m service` on a free port of 127.0.0.1, serving `store`; yields its URL.
    The server's output goes to `output` when it is given."""
    port = free_port()
    env = {"MODEL_STORE_DIR": str(store), "HOST": "127.0.0.1", "PORT": str(port), **settings}
    with serve([sys.executable, "-m", "service"], port, env=env, timeout=60, output=output):
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


# -- real rows, processes and load (shared by the slow tests and `make bench`) ----------------

BENCHMARKS_DIR = PROJECT_ROOT / "tests" / "benchmarks"
INT_FIELDS = {
    name for name, field in CustomerFeatures.model_fields.items() if field.annotation is int
}


def customers_from_data(count: int, seed: int = 0) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """`count` varied real rows (sampled with replacement) as a matrix and as API bodies."""
    frame = pd.read_csv(TrainSettings().data_path)
    frame = frame.sample(n=count, replace=True, random_state=seed)
    features = frame[list(DATASET_COLUMNS)].rename(columns=DATASET_COLUMNS)[list(FEATURE_NAMES)]
    bodies = [
        {name: int(value) if name in INT_FIELDS else float(value) for name, value in row.items()}
        for row in features.to_dict("records")
    ]
    return features.to_numpy(dtype=np.float64), bodies


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_of(pid: int) -> list[int]:
    """Child processes started by any of the process's threads (a JVM starts Spark's
    Python workers from other threads than its main one)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        path = task / "children"
        if path.exists():
            children += [int(p) for p in path.read_text().split()]
    return children


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(
    port: int, path: str, bodies_file: Path, connections: int, seconds: int
) -> dict[str, float]:
    """Requests/s and latency percentiles from Debian's wrk, rotating request bodies."""
    threads = min(connections, 2)
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(BENCHMARKS_DIR / "rotate.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "BODIES_FILE": str(bodies_file), "TARGET_PATH": path},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _to_ms(latency["50"]),
        "p99_ms": _to_ms(latency["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


@contextmanager
def service_process(
    store: Path, workers: int, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m service` with `workers` workers watching `store` every 0.5 s."""
    port = free_port()
    env = {
        "MODEL_STORE_DIR": str(store),
        "PORT": str(port),
        "WORKERS": str(workers),
        "LOG_LEVEL": "warning",
        "MODEL_WATCH_SECONDS": "0.5",
        **extra,
    }
    with serve(
        [sys.executable, "-m", "service"], port, "/health/ready", env=env, timeout=60
    ) as process:
        deadline = time.monotonic() + 30
        while (
            workers > 1 and len(worker_pids(process.pid)) < workers and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0.0)  # every worker listening
        yield f"http://127.0.0.1:{port}", process


def worker_pids(supervisor: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing also starts a resource tracker)."""
    workers = []
    for pid in children_of(supervisor):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in command:
            workers.append(pid)
    return workers


# -- PostgreSQL: a real server from Debian's package, started by the tests themselves -----------

POSTGRES_USER = "postgres"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (`make test` installs the package)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs postgresql)")
    return found[-1].parent


def _as_cluster_owner(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the package's
    `postgres` user (created when missing); as anyone else, run them as that user."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                POSTGRES_USER,
            ],
            check=True,
        )
    return ["runuser", "-u", POSTGRES_USER, "--", *command]


class PostgresCluster:
    """A throwaway cluster in a temporary directory, on a free port of 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bin = postgres_bin()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            _as_cluster_owner([str(self.bin / command[0]), *command[1:]]),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _as_cluster_owner(["true"])  # creates the user when missing
            shutil.chown(self.root, POSTGRES_USER, POSTGRES_USER)
        self._run("initdb", "-A", "trust", "-U", POSTGRES_USER, "-E", "UTF8", "-D", str(self.data))

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run("pg_ctl", "-w", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-w", "-D", str(self.data), "-m", mode, "stop")

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    root = Path(tempfile.mkdtemp(prefix="credit-default-pg-"))
    os.chmod(root, 0o755)
    cluster = PostgresCluster(root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with suppress(RuntimeError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
