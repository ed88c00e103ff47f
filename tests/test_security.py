"""Access control, CORS, security headers, limits and a catalogue of hostile inputs."""

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from model_store.runtime import Predictor
from schemas import EXAMPLE_CUSTOMER
from service.app import create_app
from service.keys import SCOPES, new_key
from service.settings import ServiceSettings
from tests.support.servers import asgi_client
from tests.support.servers import assert_problem as shared_assert_problem

pytestmark = pytest.mark.anyio

KEY, DIGEST = new_key()


@pytest.fixture
async def keyed(synthetic_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(
        ServiceSettings(model_store_dir=synthetic_store, api_keys=DIGEST)
    ) as client:
        yield client


@pytest.fixture
async def open_client(synthetic_store: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(ServiceSettings(model_store_dir=synthetic_store)) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    return shared_assert_problem(response, status, secrets=(DIGEST, KEY))


# -- API keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer "},
    ],
)
async def test_missing_or_wrong_keys_get_401_without_hints(
    keyed: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path, body in (
        ("POST", "/predict", EXAMPLE_CUSTOMER),
        ("GET", "/models", None),
        ("POST", "/admin/reload", None),
    ):
        response = await keyed.request(method, path, json=body, headers=headers)
        problem = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="credit-default"'
        assert problem["type"].endswith("unauthorized")


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}, {"authorization": f"bearer {KEY}"}],
)
async def test_a_valid_key_in_either_header_is_accepted(
    keyed: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await keyed.post("/predict", json=EXAMPLE_CUSTOMER, headers=headers)
    assert response.status_code == 200


async def test_health_docs_and_page_stay_open_by_default(keyed: httpx.AsyncClient) -> None:
    for path in (
        "/health/live",
        "/health/ready",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/",
        "/static/app.js",
    ):
        assert (await keyed.get(path)).status_code == 200, path


async def test_docs_and_page_can_be_closed_too(synthetic_store: Path) -> None:
    async with asgi_client(
        ServiceSettings(model_store_dir=synthetic_store, api_keys=DIGEST, public_docs=False)
    ) as client:
        for path in ("/docs", "/openapi.json", "/", "/static/app.js"):
            assert_problem(await client.get(path), 401)
        assert (await client.get("/health/ready")).status_code == 200


def test_keys_are_configured_as_digests_only() -> None:
    with pytest.raises(ValueError, match="digest of a key"):
        ServiceSettings(api_keys=KEY)
    [first, _] = ServiceSettings(api_keys=f"{DIGEST}, {new_key()[1]}").api_key_entries
    assert first.digest_bytes.hex() == DIGEST[7:]


def test_startup_is_refused_without_keys_where_they_are_required() -> None:
    with pytest.raises(ValidationError, match="ALLOW_ANONYMOUS"):
        ServiceSettings(require_api_keys=True)
    ServiceSettings(require_api_keys=True, allow_anonymous=True)
    ServiceSettings(require_api_keys=True, api_keys=DIGEST)
    assert ServiceSettings().anonymous  # local default: anonymous, with a warning


# -- CORS and headers ------------------------------------------------------------------------


async def test_cors_is_closed_by_default(open_client: httpx.AsyncClient) -> None:
    response = await open_client.post(
        "/predict", json=EXAMPLE_CUSTOMER, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_the_listed_origins(synthetic_store: Path) -> None:
    settings = ServiceSettings(
        model_store_dir=synthetic_store, cors_allow_origins="https://bank.example"
    )
    async with asgi_client(settings) as client:
        preflight = {"Origin": "https://bank.example", "Access-Control-Request-Method": "POST"}
        allowed = await client.options("/predict", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://bank.example"
        other = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_security_headers_are_on_every_response(keyed: httpx.AsyncClient) -> None:
    responses = [
        await keyed.get("/health/live"),
        await keyed.get("/nowhere"),
        await keyed.post("/predict", json=EXAMPLE_CUSTOMER),
        await keyed.post("/predict", json={}, headers={"X-API-Key": KEY}),
        await keyed.get("/"),
        await keyed.get("/docs"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "server" not in response.headers
    assert "cdn" not in responses[4].headers["content-security-policy"]  # the page: self only


# -- limits ----------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413(synthetic_store: Path) -> None:
    settings = ServiceSettings(model_store_dir=synthetic_store, max_body_bytes=4096)
    async with asgi_client(settings) as client:
        big = json.dumps({"customers": [EXAMPLE_CUSTOMER] * 50}).encode()
        problem = assert_problem(
            await client.post(
                "/predict/batch", content=big, headers={"content-type": "application/json"}
            ),
            413,
        )
        assert "4096" in problem["detail"]

        streamed = _chunks(big)  # no Content-Length: counted as it streams
        assert_problem(
            await client.post(
                "/predict/batch", content=streamed, headers={"content-type": "application/json"}
            ),
            413,
        )


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_requests_beyond_the_in_flight_bound_get_503_with_retry_after(
    synthetic_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Predictor.predict_proba

    def slow(self: Predictor, rows: np.ndarray) -> np.ndarray:
        time.sleep(0.5)
        return original(self, rows)

    monkeypatch.setattr(Predictor, "predict_proba", slow)
    settings = ServiceSettings(model_store_dir=synthetic_store, max_in_flight=1)
    async with asgi_client(settings) as client:
        batch = {"customers": [EXAMPLE_CUSTOMER]}
        first, second, health = await asyncio.gather(
            client.post("/predict/batch", json=batch),
            _after(0.1, client.post("/predict/batch", json=batch)),
            _after(0.1, client.get("/health/ready")),
        )
    assert first.status_code == 200
    assert_problem(second, 503)
    assert second.headers["retry-after"] == "1"
    assert health.status_code == 200  # health is not counted: an overloaded worker still reports


async def _after(seconds: float, request: Any) -> httpx.Response:
    await asyncio.sleep(seconds)
    return await request


async def test_a_request_over_the_time_limit_is_504(
    synthetic_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        Predictor, "predict_proba", lambda self, rows: time.sleep(1.0) or np.zeros(len(rows))
    )
    settings = ServiceSettings(model_store_dir=synthetic_store, request_timeout_seconds=0.2)
    async with asgi_client(settings) as client:
        problem = assert_problem(
            await client.post("/predict/batch", json={"customers": [EXAMPLE_CUSTOMER]}), 504
        )
        assert problem["type"].endswith("timeout")


# -- hostile inputs --------------------------------------------------------------------------


def _body(**changes: Any) -> str:
    return json.dumps({**EXAMPLE_CUSTOMER, **changes})


HOSTILE: list[tuple[str, str, str | bytes, dict[str, str], int]] = [
    # (name, path, body, headers, expected status)
    ("huge number", "/predict", _body(limit_bal=1e308), {}, 422),
    ("huge integer", "/predict", _body(age=10**400), {}, 422),
    ("negative zero amount", "/predict", _body(bill_amt1=-0.0), {}, 200),
    ("negative zero limit", "/predict", _body(limit_bal=-0.0), {}, 422),
    ("NaN", "/predict", _body(limit_bal=12345).replace("12345", "NaN"), {}, 422),
    ("Infinity", "/predict", _body(limit_bal=12345).replace("12345", "Infinity"), {}, 422),
    ("-Infinity", "/predict", _body(bill_amt1=12345).replace("12345", "-Infinity"), {}, 422),
    ("nan lower case", "/predict", _body(limit_bal=12345).replace("12345", "nan"), {}, 400),
    ("inf lower case", "/predict", _body(limit_bal=12345).replace("12345", "inf"), {}, 400),
    ("1e999 overflow", "/predict", _body(limit_bal=12345).replace("12345", "1e999"), {}, 422),
    (
        "NaN in a batch",
        "/predict/batch",
        '{"customers": [' + _body(limit_bal=12345).replace("12345", "NaN") + "]}",
        {},
        422,
    ),
    ("deeply nested", "/predict", "[" * 100_000 + "]" * 100_000, {}, 400),
    (
        "deeply nested batch",
        "/predict/batch",
        '{"customers": ' + "[" * 100_000 + "]" * 100_000 + "}",
        {},
        400,
    ),
    ("duplicate keys", "/predict", _body()[:-1] + ', "age": 99}', {}, 400),
    (
        "duplicate keys in a batch",
        "/predict/batch",
        '{"customers": [' + _body()[:-1] + ', "age": 99}]}',
        {},
        400,
    ),
    (
        "duplicate keys with spacing",
        "/predict/batch",
        '{"customers": [' + _body()[:-1] + ', "age" : 99}]}',
        {},
        400,
    ),
    ("text/plain", "/predict", _body(), {"content-type": "text/plain"}, 422),
    (
        "form encoded",
        "/predict",
        "age=35",
        {"content-type": "application/x-www-form-urlencoded"},
        422,
    ),
    (
        "batch as text/plain",
        "/predict/batch",
        json.dumps({"customers": [EXAMPLE_CUSTOMER]}),
        {"content-type": "text/plain"},
        422,
    ),
    ("invalid UTF-8", "/predict", b'{"limit_bal": "\xff\xfe"}', {}, 400),
    ("invalid UTF-8 batch", "/predict/batch", b'{"customers": ["\xff"]}', {}, 400),
    ("empty body", "/predict", b"", {}, 422),
    ("empty batch body", "/predict/batch", b"", {}, 422),  # one reader: as /predict
    ("array for an object", "/predict", "[1, 2, 3]", {}, 422),
    (
        "object for the batch list",
        "/predict/batch",
        json.dumps({"customers": EXAMPLE_CUSTOMER}),
        {},
        422,
    ),
    ("string for the body", "/predict", '"hello"', {}, 422),
    ("null body", "/predict", "null", {}, 422),
    (
        "10,001 batch items",
        "/predict/batch",
        json.dumps({"customers": [EXAMPLE_CUSTOMER] * 10_001}),
        {},
        422,
    ),
    ("bool for a code", "/predict", _body(sex=True), {}, 422),
    ("string for a number", "/predict", _body(limit_bal="50000"), {}, 422),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "headers", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
async def test_hostile_inputs_get_their_expected_answer(
    open_client: httpx.AsyncClient,
    name: str,
    path: str,
    body: str | bytes,
    headers: dict[str, str],
    expected: int,
) -> None:
    response = await open_client.post(
        path, content=body, headers={"content-type": "application/json", **headers}
    )
    if expected == 200:
        assert response.status_code == 200, response.text
        assert 0.0 <= response.json()["probability"] <= 1.0
    else:
        problem = assert_problem(response, expected)
        assert problem["errors"], name


async def test_a_50_mb_body_is_refused_before_it_is_read(synthetic_store: Path) -> None:
    async with asgi_client(ServiceSettings(model_store_dir=synthetic_store)) as client:
        response = await client.post(
            "/predict/batch",
            content=b" " * (50 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 413)


# -- scopes ----------------------------------------------------------------------------------

SCOPED_KEYS = {scope: new_key() for scope in SCOPES}
SCOPED_API_KEYS = json.dumps(
    [
        {"id": f"only-{scope.replace(':', '-')}", "digest": digest, "scopes": [scope]}
        for scope, (_, digest) in SCOPED_KEYS.items()
    ]
)
# Each protected operation, a request that it would answer, and the scope it needs.
PROTECTED = {
    ("POST", "/predict"): ("/predict", EXAMPLE_CUSTOMER, "score"),
    ("POST", "/predict/batch"): ("/predict/batch", {"customers": [EXAMPLE_CUSTOMER]}, "score"),
    ("GET", "/models"): ("/models", None, "models:read"),
    ("GET", "/models/{version}"): ("/models/production", None, "models:read"),
    ("GET", "/models/{version}/report"): ("/models/production/report", None, "models:read"),
    ("GET", "/reasons"): ("/reasons", None, "models:read"),
    ("POST", "/admin/reload"): ("/admin/reload", None, "admin"),
    ("GET", "/decisions"): ("/decisions", None, "audit"),
    ("GET", "/decisions/{request_id}"): ("/decisions/scope-probe", None, "audit"),
    ("GET", "/metrics"): ("/metrics", None, "metrics"),
    ("GET", "/monitoring/drift"): ("/monitoring/drift", None, "metrics"),
    ("POST", "/outcomes"): (
        "/outcomes",
        {
            "outcomes": [
                {
                    "request_id": "scope-probe",
                    "defaulted": False,
                    "observed_at": "2027-01-31T00:00:00Z",
                }
            ]
        },
        "outcomes",
    ),
    # After /outcomes above: by then the probe's decision has an outcome to measure.
    ("GET", "/monitoring/performance"): ("/monitoring/performance", None, "metrics"),
    ("GET", "/monitoring/challengers"): ("/monitoring/challengers", None, "metrics"),
    ("GET", "/models/history"): ("/models/history", None, "models:read"),
    # On the test's own copy of the store: production promoted to the version it names
    # (recorded once, as the alias predates the history), and an approval for an unset alias.
    ("POST", "/models/{version}/promote"): (
        "/models/production/promote",
        {"reason": "scope probe"},
        "admin",
    ),
    ("POST", "/models/{version}/approve"): (
        "/models/production/approve",
        {"reason": "scope probe", "alias": "next"},
        "admin",
    ),
}


async def test_every_protected_operation_against_every_scope(
    synthetic_store: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"  # promotions write: never to the shared store
    shutil.copytree(synthetic_store, store)
    settings = ServiceSettings(
        model_store_dir=store,
        api_keys=SCOPED_API_KEYS,
        decision_log_url=f"sqlite:///{tmp_path / 'decisions.sqlite3'}",
    )
    # Every operation the document marks as secured is listed here, with the scope it names.
    document = create_app(settings).openapi()
    secured = {
        (method.upper(), path): operation["security"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "security" in operation
    }
    assert set(secured) == set(PROTECTED)
    for operation, (_, _, needed) in PROTECTED.items():
        assert secured[operation] == [{"ApiKeyBearer": [needed]}, {"ApiKeyHeader": [needed]}]
    async with asgi_client(settings) as client:
        audit_key = SCOPED_KEYS["audit"][0]
        score_key = SCOPED_KEYS["score"][0]
        scored = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER,
            headers={"X-API-Key": score_key, "X-Request-ID": "scope-probe"},
        )  # fmt: skip
        assert scored.status_code == 200
        for (method, _), (path, body, needed) in PROTECTED.items():
            assert_problem(await client.request(method, path, json=body), 401)
            for scope, (key, _) in SCOPED_KEYS.items():
                response = await client.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {key}"}
                )
                if scope == needed:
                    assert response.status_code == 200, (path, scope, response.text)
                else:
                    problem = shared_assert_problem(response, 403, secrets=(key,))
                    assert problem["type"].endswith("forbidden"), (path, scope)
                    assert f"`{needed}`" in problem["detail"]
        [record] = (
            await client.get("/decisions/scope-probe", headers={"X-API-Key": audit_key})
        ).json()
        assert record["key_id"] == "only-score"  # the caller's id, never the key


async def test_a_bare_digest_may_score_and_read_models_but_not_reload_or_audit(
    synthetic_store: Path, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        model_store_dir=synthetic_store,
        api_keys=DIGEST,
        decision_log_url=f"sqlite:///{tmp_path / 'decisions.sqlite3'}",
    )
    audit_key, audit_digest = new_key()
    auditor = ServiceSettings(
        model_store_dir=synthetic_store,
        api_keys=json.dumps([{"id": "auditor", "digest": audit_digest, "scopes": ["audit"]}]),
        decision_log_url=settings.decision_log_url,
    )
    headers = {"X-API-Key": KEY}
    async with asgi_client(settings) as client:
        response = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={**headers, "X-Request-ID": "legacy-1"}
        )
        assert response.status_code == 200
        assert (await client.get("/models", headers=headers)).status_code == 200
        assert_problem(await client.post("/admin/reload", headers=headers), 403)
        assert_problem(await client.get("/decisions", headers=headers), 403)
    async with asgi_client(auditor) as client:
        [record] = (
            await client.get("/decisions/legacy-1", headers={"X-API-Key": audit_key})
        ).json()
    assert record["key_id"] == DIGEST[7:19]  # the first 12 hex digits of its digest


@pytest.mark.parametrize(
    ("api_keys", "message"),
    [
        ('[{"id": "a", "digest": "sha256:00", "scopes": ["score"]}]', "entry 0.digest"),
        (f'[{{"id": "a", "digest": "{DIGEST}", "scopes": ["fly"]}}]', "entry 0.scopes"),
        (f'[{{"id": "a", "digest": "{DIGEST}", "scopes": []}}]', "entry 0.scopes"),
        (f'[{{"id": "a b", "digest": "{DIGEST}", "scopes": ["score"]}}]', "entry 0.id"),
        (f'[{{"digest": "{DIGEST}", "scopes": ["score"]}}]', "entry 0.id"),
        (f'[{{"id": "a", "digest": "{DIGEST}", "scopes": ["score"], "key": "x"}}]', "entry 0.key"),
        ('[{"id": "a",', "JSON list"),
        (
            json.dumps([{"id": i, "digest": DIGEST, "scopes": ["score"]} for i in "ab"]),
            "same digest twice",
        ),
        (
            json.dumps([{"id": "a", "digest": new_key()[1], "scopes": ["score"]} for _ in "12"]),
            "same id twice",
        ),
    ],
)
def test_a_malformed_key_list_is_refused_with_the_rule(api_keys: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        ServiceSettings(api_keys=api_keys)
    assert KEY not in str(refused.value)
