"""Shared fixtures: the real data set, one quick model trained per session, an ASGI client."""

import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from model_store import ModelStore, sha256_of
from schemas.api import ModelManifest
from service.settings import ServiceSettings
from tests.support import PROJECT_ROOT, PostgresCluster, asgi_client, postgres_cluster, run_train
from train.settings import TrainSettings


@pytest.fixture(scope="session", autouse=True)
def decision_log_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Apps and servers that name no DECISION_LOG_URL record into one file per session,
    rather than the default beside the shared test store (which would grow run after run).
    The default itself is tested on its own store."""
    path = tmp_path_factory.mktemp("decision-log") / "decisions.sqlite3"
    previous = os.environ.get("DECISION_LOG_URL")
    os.environ["DECISION_LOG_URL"] = f"sqlite:///{path}"
    yield path
    if previous is None:
        os.environ.pop("DECISION_LOG_URL", None)
    else:
        os.environ["DECISION_LOG_URL"] = previous


@pytest.fixture(scope="session")
def data_path() -> Path:
    path = TrainSettings().data_path
    if not path.is_file():
        pytest.fail(f"the data set is needed for these tests; set DATA_PATH (looked at {path})")
    return path


@pytest.fixture(scope="session")
def trained_store(data_path: Path) -> Path:
    """A store holding one quick model trained on the full real data, promoted to production.

    Kept under test-output/stores/ by a key over everything that decides what training
    produces (its code, the contract, the store, the recorded hyperparameters, the locked
    libraries and the data), so the test loop trains again only when one of them changed.
    Tests only read it.
    """
    sources = sorted(
        path
        for folder in ("train", "schemas", "model_store")
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.suffix in (".py", ".json", ".c")
    )
    digest = hashlib.sha256()
    for path in [*sources, PROJECT_ROOT / "requirements" / "runtime.txt"]:
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(sha256_of(data_path).encode())
    store = PROJECT_ROOT / "test-output" / "stores" / digest.hexdigest()[:16]
    if not (store / "aliases" / "production.json").is_file():
        staging = store.with_name(f".{store.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        result = run_train("--quick", "--data", str(data_path), "--store", str(staging))
        assert result.returncode == 0, result.stderr + result.stdout
        shutil.rmtree(store, ignore_errors=True)
        staging.rename(store)
    return store


@pytest.fixture(scope="session")
def quick_manifest(trained_store: Path) -> ModelManifest:
    return ModelStore(trained_store).get("production")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One real PostgreSQL server for the session, from Debian's package, in a temporary
    directory on a free port; each test makes its own database in it."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def decision_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty decision log on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"log_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(trained_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    """httpx speaking real HTTP semantics to the ASGI app, with its start-up run."""
    async with asgi_client(ServiceSettings(model_store_dir=trained_store)) as c:
        yield c


@pytest.fixture
async def empty_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app started on an empty model store."""
    async with asgi_client(ServiceSettings(model_store_dir=tmp_path / "empty-store")) as c:
        yield c
