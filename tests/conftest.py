"""Shared fixtures: the real data set, one quick model trained per session, an ASGI client."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from model_store import ModelStore
from schemas.api import ModelManifest
from service.settings import ServiceSettings
from tests.support import asgi_client, run_train
from train.settings import TrainSettings


@pytest.fixture(scope="session")
def data_path() -> Path:
    path = TrainSettings().data_path
    if not path.is_file():
        pytest.fail(f"the data set is needed for these tests; set DATA_PATH (looked at {path})")
    return path


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory, data_path: Path) -> Path:
    """A store holding one quick model trained on the full real data, promoted to production."""
    store = tmp_path_factory.mktemp("store")
    result = run_train("--quick", "--data", str(data_path), "--store", str(store))
    assert result.returncode == 0, result.stderr + result.stdout
    return store


@pytest.fixture(scope="session")
def quick_manifest(trained_store: Path) -> ModelManifest:
    return ModelStore(trained_store).get("production")


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
