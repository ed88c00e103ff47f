"""No 200 without its record, against real servers: uvicorn with two workers writing to
one SQLite file or one PostgreSQL database, killed with SIGKILL under load, and a
PostgreSQL stopped and restarted under load. Load goes to 127.0.0.1 only, from a few
threads, and stops by itself (bounded counts and durations)."""

import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.data import customers_from_data
from tests.support.postgres import PostgresCluster, postgres_cluster
from tests.support.servers import service_process, worker_pids

pytestmark = pytest.mark.slow

BATCH_EVERY = 5  # every fifth request is a batch
BATCH_SIZE = 20


@dataclass
class Load:
    """What a load run sent and what came back, request id by request id."""

    answered: dict[str, int] = field(default_factory=dict)  # request id -> customers, on 200
    refused: dict[str, str] = field(default_factory=dict)  # request id -> problem type
    other: list[str] = field(default_factory=list)  # anything else: a failure of the test
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return len(self.answered) + len(self.refused)


@contextmanager
def load(url: str, threads: int = 6, max_seconds: float = 90) -> Iterator[Load]:
    """Threads sending /predict and small batches, each with a fresh request id, until the
    block ends (or `max_seconds`). Connection errors count as neither answer nor refusal."""
    _, bodies = customers_from_data(200, seed=11)
    result = Load()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def send(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            sent = 0
            while not stop.is_set() and time.monotonic() < deadline:
                request_id = f"load-{worker}-{sent}-{uuid.uuid4().hex[:6]}"
                sent += 1
                batch = sent % BATCH_EVERY == 0
                start = (sent * 7) % (len(bodies) - BATCH_SIZE)
                try:
                    if batch:
                        body = {"customers": bodies[start : start + BATCH_SIZE]}
                        response = client.post(
                            "/predict/batch", json=body, headers={"X-Request-ID": request_id}
                        )
                    else:
                        response = client.post(
                            "/predict", json=bodies[start], headers={"X-Request-ID": request_id}
                        )
                except httpx.TransportError:
                    time.sleep(0.01)  # the server is gone or restarting: not an answer
                    continue
                with result.lock:
                    if response.status_code == 200:
                        result.answered[request_id] = BATCH_SIZE if batch else 1
                    elif response.status_code == 503:
                        result.refused[request_id] = response.json()["type"]
                    else:
                        result.other.append(f"{response.status_code} {response.text[:200]}")

    pool = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    try:
        yield result
    finally:
        stop.set()
        for thread in pool:
            thread.join(timeout=60)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def sqlite_records(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT request_id, count(*) FROM decisions GROUP BY 1")
        return dict(rows.fetchall())


def postgres_records(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT request_id, count(*) FROM decisions GROUP BY 1")
        return dict(rows.fetchall())


def writers(url: str) -> set[str]:
    """Who has written the heartbeat: each worker process probes once at its start."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return {
                row[0] for row in connection.execute("SELECT writer FROM decision_log_heartbeat")
            }
    with psycopg.connect(url) as connection:
        return {row[0] for row in connection.execute("SELECT writer FROM decision_log_heartbeat")}


def assert_every_answer_on_record(result: Load, records: dict[str, int]) -> None:
    missing = [rid for rid, count in result.answered.items() if records.get(rid) != count]
    assert not missing, (
        f"{len(missing)} answered requests have no (or partial) record: {missing[:5]}"
    )


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_write_one_log(
    real_store: Path, tmp_path: Path, postgres: PostgresCluster, backend: str
) -> None:
    if backend == "sqlite":
        log_url = f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
        records = lambda: sqlite_records(tmp_path / "decisions.sqlite3")  # noqa: E731
    else:
        log_url = postgres.create_database(f"two_{uuid.uuid4().hex[:8]}")
        records = lambda: postgres_records(log_url)  # noqa: E731
    with service_process(real_store, 2, DECISION_LOG_URL=log_url) as (url, process):
        pids = worker_pids(process.pid)
        assert len(pids) == 2
        with load(url, threads=8) as result:
            wait_until(lambda: result.count >= 400, 60)
        assert result.other == []
        assert result.refused == {}
        assert len(result.answered) >= 400
        assert_every_answer_on_record(result, records())
        # Both worker processes took part: each one's health probe is on record.
        assert {writer.rsplit(":", 1)[1] for writer in writers(log_url)} == {str(p) for p in pids}


def test_sigkill_under_load_loses_no_answered_decision(real_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "decisions.sqlite3"
    server = service_process(real_store, 2, DECISION_LOG_URL=f"sqlite:///{path}")
    with server as (url, process), load(url, threads=8) as result:
        assert wait_until(lambda: len(result.answered) >= 300, 60)
        # SIGKILL every process of the server at once, mid-load: no shutdown runs.
        for pid in [*worker_pids(process.pid), process.pid]:
            os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        time.sleep(0.5)  # let the load threads see the connections drop
    assert result.other == []
    records = sqlite_records(path)
    assert_every_answer_on_record(result, records)
    print(
        f"SIGKILL under load: {len(result.answered)} requests answered 200 "
        f"({sum(result.answered.values())} customers), all on record; the log holds "
        f"{sum(records.values())} records of {len(records)} requests"
    )


def test_postgres_stopped_under_load_answers_503_then_recovers(real_store: Path) -> None:
    """Its own cluster, since it is stopped: the session's other tests keep theirs."""
    with postgres_cluster() as cluster:
        log_url = cluster.create_database("outage")
        settings = {
            "DECISION_LOG_URL": log_url,
            "DECISION_LOG_TIMEOUT_SECONDS": "1",
            "DECISION_LOG_RETRY_SECONDS": "0.2",
        }
        with service_process(real_store, 2, **settings) as (url, _), load(url) as result:
            assert wait_until(lambda: len(result.answered) >= 100, 60)
            before = len(result.answered)
            cluster.stop("fast")
            assert wait_until(lambda: len(result.refused) >= 50, 30)
            assert not ready(url)
            readiness = httpx.get(f"{url}/health/ready", timeout=2).json()
            cluster.start()
            # Both workers recover by themselves: readiness holds, and answers resume.
            assert wait_until(lambda: all(ready(url) for _ in range(6)), 30)
            during = len(result.answered)
            assert wait_until(lambda: len(result.answered) >= during + 100, 60)
        assert result.other == []
        assert set(result.refused.values()) == {
            "urn:credit-default:problem:decision-log-unavailable"
        }
        assert "decisions cannot be written" in readiness["detail"]
        records = postgres_records(log_url)
        assert_every_answer_on_record(result, records)
        refused_on_record = [rid for rid in result.refused if rid in records]
        print(
            f"PostgreSQL stop under load: {before} answered before the stop, "
            f"{len(result.refused)} refused with 503 while it was down "
            f"({len(refused_on_record)} of them committed as the server went down), "
            f"{len(result.answered)} answered in all, every one on record"
        )
