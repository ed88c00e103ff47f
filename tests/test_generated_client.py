"""A Python client generated from the committed openapi.json (openapi-python-client), used
against a real server with an API key: typed results for one customer, a batch, and a 422."""

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from schemas import EXAMPLE_CUSTOMER
from service.keys import new_key
from tests.support import PROJECT_ROOT
from tests.support.servers import running_server

pytestmark = pytest.mark.slow

KEY, DIGEST = new_key()
PACKAGE = "credit_default_client"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("generated")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(PROJECT_ROOT / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        check=False,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(root))
    yield PACKAGE
    sys.path.remove(str(root))


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_operations_have_the_names_a_developer_would_write(client_package: str) -> None:
    for operation in (
        "api.prediction.predict",
        "api.prediction.predict_batch",
        "api.models.list_models",
        "api.models.get_model",
        "api.admin.reload_model",
        "api.health.get_readiness",
    ):
        assert hasattr(_module(operation), "sync_detailed"), operation


def test_generated_client_scores_against_a_real_server(
    client_package: str, real_store: Path
) -> None:
    models = _module("models")
    predict = _module("api.prediction.predict")
    predict_batch = _module("api.prediction.predict_batch")
    with running_server(real_store, API_KEYS=DIGEST) as base_url:
        client = _module("client").AuthenticatedClient(base_url=base_url, token=KEY)
        customer = models.CustomerFeatures.from_dict(EXAMPLE_CUSTOMER)

        one = predict.sync_detailed(client=client, body=customer)
        assert one.status_code == 200
        assert isinstance(one.parsed, models.Prediction)
        assert 0.0 < one.parsed.probability < 1.0
        assert one.parsed.default is (one.parsed.probability >= one.parsed.threshold)
        assert isinstance(one.parsed.score, int)
        assert isinstance(one.parsed.grade, int)

        batch = predict_batch.sync_detailed(
            client=client, body=models.BatchRequest(customers=[customer, customer])
        )
        assert isinstance(batch.parsed, models.BatchPrediction)
        assert batch.parsed.count == 2
        assert [p.probability for p in batch.parsed.predictions] == [one.parsed.probability] * 2
        assert [(p.score, p.grade) for p in batch.parsed.predictions] == [
            (one.parsed.score, one.parsed.grade)
        ] * 2

        too_old = models.CustomerFeatures.from_dict({**EXAMPLE_CUSTOMER, "age": 150})
        refused = predict.sync_detailed(client=client, body=too_old)
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)
        assert [(e.field, e.type_) for e in refused.parsed.errors] == [("age", "less_than_equal")]

        anonymous = _module("client").AuthenticatedClient(base_url=base_url, token="wrong")
        assert predict.sync_detailed(client=anonymous, body=customer).status_code == 401
