"""What `make bench` reads about processes is what it says it reads."""

import math
import subprocess
import sys
from pathlib import Path

from tests.support.servers import children_of, rss_mib, tree_rss_mib

# A parent that keeps one child unreaped (a zombie, as Spark's JVM keeps a finished
# shell) and one alive, and prints their process ids.
_PARENT = """
import subprocess, sys, time
finished = subprocess.Popen(["true"])
finished_pid = finished.pid
while True:  # until it has ended, unreaped: the Popen object is kept and never waited on
    with open(f"/proc/{finished_pid}/stat") as stat:
        if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
            break
    time.sleep(0.01)
alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(finished_pid, alive.pid, flush=True)
time.sleep(60)
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_process_trees_memory_counts_every_live_process_and_skips_a_zombie() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        zombie, alive = (int(pid) for pid in parent.stdout.readline().split())
        assert _state(zombie) == "Z"
        assert math.isnan(rss_mib(zombie))  # why it needs skipping
        assert sorted(children_of(parent.pid)) == sorted([zombie, alive])
        total = tree_rss_mib(parent.pid)
        expected = rss_mib(parent.pid) + rss_mib(alive)
        assert math.isfinite(total)
        assert abs(total - expected) < 1.0, (total, expected)
    finally:
        parent.kill()
        parent.wait()
