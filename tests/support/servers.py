"""Servers and clients: the ASGI app in process, `python -m service` on a free port of
127.0.0.1, processes and their memory, wrk, and the problem assertion every HTTP answer is
checked with. Shared by the tests and `make bench`."""

import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from service.app import create_app
from service.settings import ServiceSettings
from tests.support import PROJECT_ROOT

BENCHMARKS_DIR = PROJECT_ROOT / "tests" / "benchmarks"


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


# -- processes and load (the slow tests and `make bench`) -------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_of(pid: int) -> list[int]:
    """Child processes started by any of the process's threads (a JVM starts Spark's
    Python workers from other threads than its main one). A thread that ends while it is
    read is passed over, not taken for the whole process's end."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return children


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (a JVM and its Python
    workers for Spark). A process that has ended holds none: a zombie (Spark's JVM keeps
    an unreaped shell) has no VmRSS, and counting it as NaN would void the whole sum."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            resident = rss_mib(current)
            stack.extend(children_of(current))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if not math.isnan(resident):
            total += resident
    return total


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
