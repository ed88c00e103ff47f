"""Fuzzing: schemathesis against the app's own OpenAPI document, every operation, with and
without an API key; and a property that any JSON object is scored or rejected with a 422
naming a field."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_store import ModelStore
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES
from service.app import create_app
from service.keys import new_key
from service.registry import ModelRegistry
from service.settings import ServiceSettings

pytestmark = pytest.mark.slow  # schemathesis generates hundreds of cases per operation

KEY, DIGEST = new_key()


# The document does not depend on the store, so the app is made at import and given the
# session's trained store by the fixture below.
APP = create_app(
    ServiceSettings(model_store_dir=Path("/nonexistent"), api_keys=DIGEST, model_watch_seconds=0)
)
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = [(op.method.upper(), op.path) for op in (r.ok() for r in SCHEMA.get_all_operations())]


@pytest.fixture(scope="module", autouse=True)
def app(real_store: Path) -> FastAPI:
    registry = ModelRegistry(ModelStore(real_store), "production", cache_size=2)
    registry.load_default()
    APP.state.plane.registry = registry
    return APP


def _fuzz(method: str, path: str, examples: int, check: Callable[[Any], None]) -> int:
    """Run `check` on schemathesis-generated cases for one operation; returns cases run."""
    ran = 0

    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=SCHEMA[path][method].as_strategy())
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        check(case)

    run()
    return ran


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_with_a_key_keeps_its_documented_promises(method: str, path: str) -> None:
    ran = _fuzz(method, path, 60, _with_key)
    print(f"{method} {path}: {ran} cases with a key, no failure")


def _with_key(case: Any) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    body = case.body if isinstance(case.body, dict) else {}
    subjects, customers = body.get("subject_ids"), body.get("customers")
    if (
        isinstance(subjects, list)
        and isinstance(customers, list)
        and len(subjects) != len(customers)
    ):
        # The one rule of the contract JSON Schema cannot state (two lists of one length):
        # its own documented 422, naming the field, in place of schemathesis' expectation.
        response = case.call(headers=headers)
        assert response.status_code == 422, response.text
        fields = {error["field"] for error in response.json()["errors"]}
        if not any(field.startswith("customers") for field in fields):
            assert "subject_ids" in fields, fields
        return
    case.call_and_validate(headers=headers)


def _without_key(case: Any) -> None:
    response = case.call_and_validate()  # no 5xx, status and body as documented
    if not case.path.startswith("/health"):
        assert response.status_code == 401
        content_type = response.headers["content-type"]  # schemathesis keeps header lists
        assert "application/problem+json" in content_type


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_without_a_key_keeps_its_documented_promises(
    method: str, path: str
) -> None:
    ran = _fuzz(method, path, 20, _without_key)
    print(f"{method} {path}: {ran} cases without a key, no failure")


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-API-Key": KEY}) as test_client:
        yield test_client


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
# Objects near the contract (the example with some fields changed, dropped or added) find
# both acceptances and rejections; arbitrary objects probe the rest.
near_contract = st.builds(
    lambda changes, dropped, extra: {
        **{k: v for k, v in EXAMPLE_CUSTOMER.items() if k not in dropped},
        **changes,
        **extra,
    },
    st.dictionaries(st.sampled_from(FEATURE_NAMES), json_values | st.integers(-3, 130), max_size=3),
    st.sets(st.sampled_from(FEATURE_NAMES), max_size=2),
    st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=1),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=near_contract | st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_json_object_is_scored_or_rejected_naming_a_field(
    client: TestClient, body: dict[str, Any]
) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert 0.0 <= response.json()["probability"] <= 1.0
    else:
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["errors"]
        for error in problem["errors"]:
            assert error["field"] in body or error["field"] in FEATURE_NAMES, error
            assert error["message"]
