"""A bounded load test on 127.0.0.1: wrk (Debian) for 60 s against one worker.

Checks zero failed requests and that resident memory after the run is within 5% of its
level after warm-up (no leak); prints the rate and p99. No timing is asserted.
"""

import json
import shutil
from pathlib import Path

import pytest

from tests.support.data import customers_from_data
from tests.support.servers import BENCHMARKS_DIR, rss_mib, service_process, wrk

pytestmark = pytest.mark.slow

WARM_UP_SECONDS = 10
LOAD_SECONDS = 60


def test_sixty_seconds_of_load_with_no_failures_and_no_memory_growth(
    real_store: Path, tmp_path: Path
) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: `make test` installs Debian's wrk package")
    assert (BENCHMARKS_DIR / "rotate.lua").exists()
    _, bodies = customers_from_data(2000, seed=3)
    bodies_file = tmp_path / "bodies.jsonl"
    bodies_file.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    with service_process(real_store, workers=1) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        warm = wrk(port, "/predict", bodies_file, connections=4, seconds=WARM_UP_SECONDS)
        rss_warm = rss_mib(process.pid)
        load = wrk(port, "/predict", bodies_file, connections=4, seconds=LOAD_SECONDS)
        rss_after = rss_mib(process.pid)
    drift = (rss_after - rss_warm) / rss_warm
    print(
        f"load: {load['requests']:.0f} requests in {LOAD_SECONDS} s ({load['rps']:.0f}/s) after "
        f"{warm['requests']:.0f} warm-up requests; p50 {load['p50_ms']:.2f} ms, p99 "
        f"{load['p99_ms']:.2f} ms; RSS {rss_warm:.1f} -> {rss_after:.1f} MiB ({drift:+.2%})"
    )
    assert warm["non_2xx"] == load["non_2xx"] == 0
    assert warm["socket_errors"] == load["socket_errors"] == 0
    assert abs(drift) <= 0.05
