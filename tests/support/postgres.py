"""PostgreSQL for the decision log's slow tests and `make bench`: a real server from
Debian's package, started by the tests themselves in a temporary directory on a free port
(nothing is configured system-wide). The fast selection never starts one."""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.servers import free_port

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
