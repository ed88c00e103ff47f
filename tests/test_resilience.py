"""Faults and model hot-swap against real uvicorn servers on 127.0.0.1 (bounded, self-stopping).

- a promotion under load is picked up with zero failed or mixed responses, each answer
  equal to the offline probability of the version that it names;
- a tampered model is refused and the previous version keeps serving;
- a worker killed with SIGKILL under load is replaced, failures bounded by the requests
  that were on it;
- a training run killed mid-write, or hitting a full disk, leaves no version visible.
"""

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from model_store import ModelStore
from model_store.runtime import CompiledModel
from schemas.features import FEATURE_NAMES
from tests.support import PROJECT_ROOT
from tests.support.data import customers_from_data
from tests.support.models import run_train, train_small
from tests.support.servers import children_of, service_process, worker_pids

pytestmark = pytest.mark.slow


@functools.cache
def bodies() -> list[dict]:
    """300 real rows, read when a test first sends them: never at import, since the fast
    selection collects this module without the data set."""
    return customers_from_data(300, seed=7)[1]


@dataclass
class LoadResult:
    answers: list[tuple[float, int, str, float]] = field(
        default_factory=list
    )  # time, row, version, p
    failures: list[str] = field(default_factory=list)


def run_load(base: str, seconds: float, threads: int) -> LoadResult:
    """Closed-loop load from `threads` clients, each POSTing rotating real rows."""
    result = LoadResult()
    lock = threading.Lock()
    bodies()  # read once, before the threads share them
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            i = offset
            while time.monotonic() < deadline:
                row = i % len(bodies())
                i += threads
                try:
                    response = http.post("/predict", json=bodies()[row])
                    body = response.json()
                    ok = response.status_code == 200
                except (httpx.HTTPError, json.JSONDecodeError) as error:
                    ok, body = False, repr(error)
                with lock:
                    if ok:
                        result.answers.append(
                            (time.monotonic(), row, body["model_version"], body["probability"])
                        )
                    else:
                        result.failures.append(str(body)[:200])

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return result


def offline(store: ModelStore, version: str) -> np.ndarray:
    model = CompiledModel(store.load(version).compiled)
    rows = np.array([[body[n] for n in FEATURE_NAMES] for body in bodies()], dtype=np.float64)
    return model.predict_proba(rows)


@pytest.fixture(scope="module")
def three_versions(
    tmp_path_factory: pytest.TempPathFactory, data_path: Path
) -> tuple[Path, list[str]]:
    store = tmp_path_factory.mktemp("hot-swap-store")
    for seed in ("1", "2", "3"):
        train_small(store, data_path, "--seed", seed, "--no-promote")
    versions = sorted(m.version for m in ModelStore(store).list())
    ModelStore(store).promote(versions[0], by="tests", reason="first version")
    return store, versions


def test_promotion_under_load_is_picked_up_with_no_failed_or_mixed_answers(
    three_versions: tuple[Path, list[str]],
) -> None:
    store_dir, (v1, v2, v3) = three_versions
    store = ModelStore(store_dir)
    expected = {v1: offline(store, v1), v2: offline(store, v2)}
    with service_process(store_dir, workers=2) as (base, _):
        promoter = threading.Timer(
            2.0, lambda: store.promote(v2, by="tests", reason="hot-swap under load")
        )
        promoter.start()
        promoted_at = time.monotonic() + 2.0
        load = run_load(base, seconds=6.0, threads=4)
        promoter.join()

        # A tampered version is refused: the watcher and /admin/reload keep v2 serving.
        tampered = store_dir / v3 / store.get(v3).compiled.served_file
        tampered.chmod(0o600)
        tampered.write_bytes(tampered.read_bytes()[:-16] + b"\0" * 16)
        store.promote(v3, by="tests", reason="a tampered version")
        reload = httpx.post(f"{base}/admin/reload", timeout=10)
        after_tamper = run_load(base, seconds=2.0, threads=2)

    print(f"hot-swap: {len(load.answers)} answers, {len(load.failures)} failures during promotion")
    assert load.failures == []
    assert len(load.answers) > 500
    assert {version for _, _, version, _ in load.answers} == {v1, v2}
    for _, row, version, probability in load.answers:  # every answer is wholly one version's
        assert probability == pytest.approx(expected[version][row], abs=1e-12)
    late = [version for at, _, version, _ in load.answers if at > promoted_at + 2.0]
    assert late
    assert set(late) == {v2}  # every worker switched within two seconds
    assert reload.status_code == 409
    assert "integrity check" in reload.json()["detail"]
    assert v2 in reload.json()["detail"]
    assert after_tamper.failures == []
    assert {version for _, _, version, _ in after_tamper.answers} == {v2}


def test_a_worker_killed_under_load_is_replaced_with_bounded_failures(
    three_versions: tuple[Path, list[str]],
) -> None:
    store_dir, (v1, *_) = three_versions
    ModelStore(store_dir).promote(v1, by="tests", reason="back to the first version")
    threads = 6
    with service_process(store_dir, workers=2) as (base, process):
        before = worker_pids(process.pid)
        assert len(before) == 2
        killer = threading.Timer(2.0, lambda: os.kill(before[0], signal.SIGKILL))
        killer.start()
        load = run_load(base, seconds=6.0, threads=threads)
        killer.join()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            len(children_of(process.pid)) < 2 or before[0] in children_of(process.pid)
        ):
            time.sleep(0.2)
        after = worker_pids(process.pid)
        still_serving = httpx.post(f"{base}/predict", json=bodies()[0], timeout=10).status_code
    print(
        f"SIGKILL: {len(load.answers)} answers, {len(load.failures)} failures: {load.failures[:3]}"
    )
    assert len(after) == 2
    assert before[0] not in after  # replaced by a new worker
    assert len(load.failures) <= threads  # at most the requests/connections on the killed worker
    assert len(load.answers) > 500
    assert still_serving == 200


# Run `python -m train` with file writes capped at 100 kB from the moment the store starts
# saving (training itself is untouched; its helper processes write temporary files).
# Python ignores SIGXFSZ, so a write past the cap fails with EFBIG, like a full disk; with
# the default action restored, the kernel kills the process mid-write instead.
_CAPPED_TRAIN = """
import resource, runpy, signal, sys
from model_store.store import ModelStore
die = sys.argv.pop(1) == "die"
original = ModelStore.save
def capped_save(self, *args, **kwargs):
    if die:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    return original(self, *args, **kwargs)
ModelStore.save = capped_save
sys.argv[0] = "train"
runpy.run_module("train", run_name="__main__")
"""


@pytest.mark.parametrize("die", [True, False], ids=["killed-mid-write", "disk-full"])
def test_a_training_that_cannot_finish_writing_leaves_no_version(
    tmp_path: Path, data_path: Path, die: bool
) -> None:
    store = tmp_path / "store"
    log = tmp_path / "train.log"
    command = [sys.executable, "-c", _CAPPED_TRAIN, "die" if die else "error", "--quick"]
    command += ["--sample-rows", "3000", "--data", str(data_path), "--store", str(store)]
    with log.open("w") as stderr:  # not a pipe: helper processes may outlive a killed parent
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=stderr
        )
        returncode = process.wait(timeout=180)
    if die:
        assert returncode == -signal.SIGXFSZ, log.read_text()[-800:]
        assert any(p.name.startswith(".staging-") for p in store.iterdir())  # half-written, hidden
    else:
        assert returncode != 0
        assert "File too large" in log.read_text()
        assert list(store.iterdir()) == []  # the failed save cleaned up after itself
    assert ModelStore(store).list() == []
    assert ModelStore(store).aliases() == {}
    assert [p.name for p in store.iterdir() if not p.name.startswith(".")] == []


def test_a_training_killed_midway_leaves_no_version(tmp_path: Path, data_path: Path) -> None:
    store = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-m", "train", "--data", str(data_path), "--store", str(store)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(6)  # loading, validating, cross-validating
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert ModelStore(store).list() == []
    assert (
        run_train(
            "--if-empty", "--store", str(store), "--data", str(tmp_path / "missing.csv")
        ).returncode
        == 2
    )
