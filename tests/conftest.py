"""Shared fixtures: two trained stores, the data, PostgreSQL and ASGI clients.

The fast selection (`make test-fast`, `pytest -m "not slow"`) runs on a fresh clone with
no data set, Java, PostgreSQL or browser: its tests use `synthetic_store`, a quick model
trained in process on synthetic rows, for every promise that holds for any trained model.
Tests about the real model, the real file or real servers use `real_store`, `data_path`
and `postgres`, and are marked slow; `make test` runs both.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from model_store import ModelStore, sha256_of
from schemas.api import ModelManifest
from service.settings import ServiceSettings
from tests.support import models
from tests.support.postgres import PostgresCluster, postgres_cluster
from tests.support.servers import asgi_client
from train.data import Dataset
from train.settings import TrainSettings

# Fixtures that need the data set or a PostgreSQL server: a test asking for one (directly
# or through another fixture) must be marked slow, or the fast selection would need them.
NEEDS_MORE_THAN_A_CLONE = frozenset({"data_path", "real_store", "real_manifest", "postgres"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} (uses {', '.join(sorted(NEEDS_MORE_THAN_A_CLONE & set(names)))})"
        for item in items
        if (names := getattr(item, "fixturenames", ()))
        and NEEDS_MORE_THAN_A_CLONE & set(names)
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests need the data set or PostgreSQL but are not marked slow:\n  "
            + "\n  ".join(unmarked)
        )


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


# -- the synthetic model (the fast selection) -----------------------------------------------


@pytest.fixture(scope="session")
def synthetic_dataset() -> Dataset:
    """The synthetic rows the synthetic store was trained on (regenerated: deterministic)."""
    return models.synthetic_dataset()


@pytest.fixture(scope="session")
def synthetic_store() -> Path:
    """A store holding one quick model trained in process on synthetic rows, promoted to
    production; kept under test-output/stores/ by a key over training's code and the
    generator, so the loop trains again only when one of them changed. Tests only read it."""
    return models.synthetic_store()


@pytest.fixture(scope="session")
def challenger_store() -> Path:
    """The synthetic store with a second version aliased `challenger`. Tests only read it."""
    return models.challenger_store()


@pytest.fixture(scope="session")
def synthetic_manifest(synthetic_store: Path) -> ModelManifest:
    return ModelStore(synthetic_store).get("production")


@pytest.fixture(scope="session")
def synthetic_data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic rows as a file in the data set's CSV layout, for the loader and the
    file scorer: what they need of a file is its layout, not the real customers."""
    path = tmp_path_factory.mktemp("synthetic-data") / "synthetic_credit_card.csv"
    models.synthetic_frame().to_csv(path, index=False)
    return path


# -- the real model (slow) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_path() -> Path:
    path = TrainSettings().data_path
    if not path.is_file():
        pytest.fail(f"the data set is needed for these tests; set DATA_PATH (looked at {path})")
    return path


@pytest.fixture(scope="session")
def real_store(data_path: Path) -> Path:
    """A store holding one quick model trained on the full real data, promoted to production.

    Kept under test-output/stores/ by a key over everything that decides what training
    produces (its code, the contract, the store, the recorded hyperparameters, the locked
    libraries and the data), so the test loop trains again only when one of them changed.
    Tests only read it.
    """
    digest = models.training_digest()
    digest.update(sha256_of(data_path).encode())

    def build(directory: Path) -> None:
        result = models.run_train("--quick", "--data", str(data_path), "--store", str(directory))
        assert result.returncode == 0, result.stderr + result.stdout

    return models.cached_store(digest.hexdigest()[:16], build)


@pytest.fixture(scope="session")
def real_manifest(real_store: Path) -> ModelManifest:
    return ModelStore(real_store).get("production")


# -- PostgreSQL (slow) ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One real PostgreSQL server for the session, from Debian's package, in a temporary
    directory on a free port; each test makes its own database in it."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def decision_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty decision log on each backend (PostgreSQL's is a real server: slow)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"log_{uuid.uuid4().hex[:12]}")


# -- clients ---------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(synthetic_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    """httpx speaking real HTTP semantics to the ASGI app on the synthetic store, with its
    start-up run."""
    async with asgi_client(ServiceSettings(model_store_dir=synthetic_store)) as c:
        yield c


@pytest.fixture
async def empty_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app started on an empty model store."""
    async with asgi_client(ServiceSettings(model_store_dir=tmp_path / "empty-store")) as c:
        yield c
