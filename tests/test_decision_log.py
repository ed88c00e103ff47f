"""The decision log: every answer on record, bit for bit, on SQLite and on a real
PostgreSQL (slow); its migrations, lookups, paging, export, retention and failure answers.
On the synthetic store: what is on record does not depend on which model answered."""

import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import numpy as np
import pyarrow.parquet as pq
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from model_store.scoring import decide
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES
from schemas.api import OutcomeItem
from schemas.features import HIGH_RISK_CUSTOMER, LOW_RISK_CUSTOMER
from service.decisions import DecisionBatch, DecisionStore, DecisionStoreError
from service.decisions.records import ShadowBatch
from service.decisions.tables import metadata
from service.settings import ServiceSettings
from tests.support import PROJECT_ROOT
from tests.support.models import synthetic_customers
from tests.support.postgres import PostgresCluster
from tests.support.servers import asgi_client, assert_problem

pytestmark = pytest.mark.anyio


def settings_for(store: Path, url: str, **overrides: object) -> ServiceSettings:
    return ServiceSettings(model_store_dir=store, decision_log_url=url, **overrides)


# -- the tables ------------------------------------------------------------------------------


def test_the_head_revision_is_the_newest_migration() -> None:
    """HEAD_REVISION spares a worker Alembic: it must be what Alembic reads as the head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from service.decisions.store import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_tables_at_the_head_are_opened_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    DecisionStore(url, 5).migrate()
    probe = (
        "import sys; from service.decisions import DecisionStore; "
        f"s = DecisionStore({url!r}, 5); s.probe(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    opened = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"
    fresh = probe.replace("log.db", "fresh.db")
    migrated = subprocess.run(
        [sys.executable, "-c", fresh], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert "alembic" in migrated.stdout  # a database to migrate still gets Alembic


def test_migrations_create_exactly_the_tables_the_queries_use(decision_log_url: str) -> None:
    store = DecisionStore(decision_log_url, 5)
    try:
        store.migrate()
        store.migrate()  # at head already: nothing to do, nothing lost
        assert store.revision() == ("0004", "0004")
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
    finally:
        store.close()


def test_default_log_is_an_sqlite_file_beside_the_store(tmp_path: Path) -> None:
    settings = ServiceSettings(model_store_dir=tmp_path / "models", decision_log_url="")
    assert settings.decision_log_target == f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    assert ServiceSettings(decision_log_url="none").decision_log_target is None
    assert ServiceSettings(decision_log_url="NONE").decision_log_target is None


def test_an_unusable_url_is_refused_with_the_rule(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite:///PATH, postgresql"):
        DecisionStore("mysql://somewhere/db", 5)


# -- every answer on record ------------------------------------------------------------------


async def test_every_answer_is_on_record_bit_for_bit(
    synthetic_store: Path, decision_log_url: str
) -> None:
    _, bodies = synthetic_customers(25, seed=7)
    async with asgi_client(settings_for(synthetic_store, decision_log_url)) as client:
        single = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "single-1"}
        )
        explained = await client.post(
            "/predict?explain=true", json=HIGH_RISK_CUSTOMER, headers={"X-Request-ID": "why-1"}
        )
        batch = await client.post(
            "/predict/batch?explain=true",
            json={"customers": bodies},
            headers={"X-Request-ID": "batch-1"},
        )
        for response in (single, explained, batch):
            assert response.status_code == 200, response.text

        [record] = (await client.get("/decisions/single-1")).json()
        answer = single.json()
        assert record["probability"] == answer["probability"]  # the same double, not close
        assert record["default"] is answer["default"]
        assert record["threshold"] == answer["threshold"]
        assert record["model_version"] == answer["model_version"]
        assert record["customer"] == EXAMPLE_CUSTOMER
        assert record["route"] == "/predict"
        assert record["position"] == 0
        assert record["key_id"] is None
        assert record["reasons"] is None  # not asked for, so not computed
        assert abs(datetime.fromisoformat(record["decided_at"]) - datetime.now(UTC)) < timedelta(
            minutes=5
        )

        [why] = (await client.get("/decisions/why-1")).json()
        assert why["reasons"] == [reason["code"] for reason in explained.json()["reasons"]]
        assert why["reasons"]  # the high-risk customer has reasons

        records = (await client.get("/decisions/batch-1")).json()
        predictions = batch.json()["predictions"]
        assert [r["position"] for r in records] == list(range(len(bodies)))
        assert [r["route"] for r in records] == ["/predict/batch"] * len(bodies)
        assert [r["probability"] for r in records] == [p["probability"] for p in predictions]
        assert [r["default"] for r in records] == [p["default"] for p in predictions]
        assert [r["reasons"] for r in records] == [
            [reason["code"] for reason in p["reasons"]] for p in predictions
        ]
        assert [r["customer"] for r in records] == bodies


async def test_a_refused_request_leaves_no_record(synthetic_store: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    async with asgi_client(settings_for(synthetic_store, url)) as client:
        bad = {**EXAMPLE_CUSTOMER, "age": 300}
        response = await client.post("/predict", json=bad, headers={"X-Request-ID": "bad-1"})
        assert_problem(response, 422)
        assert_problem(await client.get("/decisions/bad-1"), 404)


async def test_decisions_page_through_the_log_with_filters(
    synthetic_store: Path, decision_log_url: str
) -> None:
    async with asgi_client(settings_for(synthetic_store, decision_log_url)) as client:
        sent = []
        for index, body in enumerate([EXAMPLE_CUSTOMER, LOW_RISK_CUSTOMER, HIGH_RISK_CUSTOMER] * 3):
            request_id = f"page-{index}"
            response = await client.post(
                "/predict", json=body, headers={"X-Request-ID": request_id}
            )
            assert response.status_code == 200
            sent.append(request_id)
        middle = datetime.fromisoformat(
            (await client.get("/decisions/page-4")).json()[0]["decided_at"]
        )

        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/decisions", params=params)).json()
            seen += [record["request_id"] for record in page["decisions"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sent  # every record once, in the order written
        assert pages == 5

        after = (await client.get("/decisions", params={"since": middle.isoformat()})).json()
        assert [r["request_id"] for r in after["decisions"]] == sent[4:]
        before = (await client.get("/decisions", params={"until": middle.isoformat()})).json()
        assert [r["request_id"] for r in before["decisions"]] == sent[:4]
        version = (await client.get("/decisions/page-0")).json()[0]["model_version"]
        mine = (await client.get("/decisions", params={"model_version": version})).json()
        assert len(mine["decisions"]) == len(sent)
        other = (await client.get("/decisions", params={"model_version": "no-such"})).json()
        assert other == {"decisions": [], "next_cursor": None}

        problem = assert_problem(await client.get("/decisions", params={"cursor": "garbage"}), 422)
        assert problem["errors"][0]["field"] == "cursor"
        naive = assert_problem(
            await client.get("/decisions", params={"since": "2026-11-30T10:00:00"}), 422
        )
        assert naive["errors"][0]["field"] == "since"
        assert_problem(await client.get("/decisions", params={"limit": 0}), 422)
        assert_problem(await client.get("/decisions/unknown-id"), 404)


async def test_with_the_log_off_scoring_works_and_lookups_say_why(
    synthetic_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with asgi_client(settings_for(synthetic_store, "none")) as client:
        assert (await client.post("/predict", json=EXAMPLE_CUSTOMER)).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
        problem = assert_problem(await client.get("/decisions"), 409)
        assert problem["type"].endswith("decision-log-disabled")
    assert "decisions are not recorded" in caplog.text


# -- when the log cannot be written ----------------------------------------------------------


async def test_a_locked_database_gives_503_then_recovers_by_itself(
    synthetic_store: Path, tmp_path: Path
) -> None:
    """Another process holding SQLite's write lock past the timeout stands in for any
    failure to write: no 200 goes out, readiness says why, and the service recovers once
    the lock is released, without a restart."""
    path = tmp_path / "decisions.sqlite3"
    settings = settings_for(
        synthetic_store,
        f"sqlite:///{path}",
        decision_log_timeout_seconds=0.3,
        decision_log_retry_seconds=0.1,
    )
    async with asgi_client(settings) as client:
        assert (await client.post("/predict", json=EXAMPLE_CUSTOMER)).status_code == 200
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            refused = await client.post(
                "/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "while-locked"}
            )
            problem = assert_problem(refused, 503, secrets=(str(path),))
            assert problem["type"].endswith("decision-log-unavailable")
            assert refused.headers["retry-after"] == "1"
            ready = assert_problem(await client.get("/health/ready"), 503, secrets=(str(path),))
            assert "decisions cannot be written" in ready["detail"]
            assert_problem(
                await client.post("/predict/batch", json={"customers": [EXAMPLE_CUSTOMER]}), 503
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        for _ in range(100):  # bounded: the probe runs every 0.1 s
            if (await client.get("/health/ready")).status_code == 200:
                break
            await anyio.sleep(0.1)
        assert (await client.get("/health/ready")).status_code == 200
        after = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": "after"}
        )
        assert after.status_code == 200
        assert (await client.get("/decisions/after")).status_code == 200
        assert_problem(await client.get("/decisions/while-locked"), 404)


@pytest.mark.slow  # a real PostgreSQL server
async def test_the_service_starts_not_ready_when_the_database_is_away(
    synthetic_store: Path, postgres: PostgresCluster
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{postgres.port}/not_created_yet_{uuid.uuid4().hex[:8]}"
    settings = settings_for(synthetic_store, url, decision_log_retry_seconds=0.1)
    async with asgi_client(settings) as client:
        problem = assert_problem(await client.get("/health/ready"), 503, secrets=(url,))
        assert problem["type"].endswith("decision-log-unavailable")
        assert_problem(await client.post("/predict", json=EXAMPLE_CUSTOMER), 503)
        postgres.create_database(url.rsplit("/", 1)[1])
        for _ in range(100):
            if (await client.get("/health/ready")).status_code == 200:
                break
            await anyio.sleep(0.1)
        assert (await client.post("/predict", json=EXAMPLE_CUSTOMER)).status_code == 200


# -- export and retention --------------------------------------------------------------------


def _old_and_new(url: str) -> None:
    """Two records 40 days old and three from now, written as the service writes them."""
    rows, _ = synthetic_customers(5, seed=3)
    store = DecisionStore(url, 5)
    try:
        store.migrate()
        for request_id, when, count in (
            ("old", datetime.now(UTC) - timedelta(days=40), 2),
            ("new", datetime.now(UTC), 3),
        ):
            store.write(
                [
                    DecisionBatch(
                        request_id=request_id,
                        route="/predict/batch",
                        key_id="k",
                        decided_at=when,
                        model_version="v1",
                        threshold=0.3,
                        inputs=rows[:count],
                        probabilities=[0.1 * (i + 1) for i in range(count)],
                        defaults=decide(0.1 * np.arange(1, count + 1), 0.3).tolist(),
                        scores=[600 - i for i in range(count)],
                        grades=None,
                        reasons=None,
                    )
                ]
            )
    finally:
        store.close()


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.decisions", "--url", url, *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_export_and_purge_from_the_command_line(decision_log_url: str, tmp_path: Path) -> None:
    _old_and_new(decision_log_url)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    csv_file, parquet_file = tmp_path / "recent.csv", tmp_path / "all.parquet"
    result = _cli("export", "--since", since, str(csv_file), url=decision_log_url)
    assert result.returncode == 0, result.stderr
    assert "exported 3 decisions" in result.stdout
    lines = csv_file.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["id", "request_id", "position"]
    assert len(lines) == 4

    result = _cli("export", str(parquet_file), url=decision_log_url)
    assert result.returncode == 0, result.stderr
    table = pq.read_table(parquet_file).to_pylist()
    assert [row["request_id"] for row in table] == ["old", "old", "new", "new", "new"]
    assert set(FEATURE_NAMES) <= set(table[0])
    assert [row["probability"] for row in table[2:]] == [0.1, 0.2, 0.1 * 3]

    refused = _cli("export", str(parquet_file), url=decision_log_url)
    assert refused.returncode == 2
    assert "never overwrites" in refused.stderr

    result = _cli("purge", "--older-than-days", "30", url=decision_log_url)
    assert result.returncode == 0, result.stderr
    assert "deleted 2 decisions" in result.stdout
    remaining = DecisionStore(decision_log_url, 5)
    try:
        assert [r["request_id"] for r in remaining.iterate()] == ["new"] * 3
    finally:
        remaining.close()


async def test_retention_setting_purges_old_records(synthetic_store: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    _old_and_new(url)
    settings = settings_for(synthetic_store, url, decision_log_retention_days=30)
    async with asgi_client(settings) as client:
        for _ in range(100):  # the first purge runs at start-up, in the background
            page = (await client.get("/decisions")).json()
            if {r["request_id"] for r in page["decisions"]} == {"new"}:
                break
            await anyio.sleep(0.05)
        assert [r["request_id"] for r in page["decisions"]] == ["new"] * 3


def test_probabilities_survive_the_round_trip_exactly(decision_log_url: str) -> None:
    """Doubles go in and come out as the same bits on both backends, extremes included."""
    probabilities = [0.0, 1.0, 5e-324, 0.1 + 0.2, 1 - 2**-53, 0.12007357180118561]
    rows = np.tile(np.array([[float(EXAMPLE_CUSTOMER[name]) for name in FEATURE_NAMES]]), (6, 1))
    store = DecisionStore(decision_log_url, 5)
    try:
        store.migrate()
        batch = DecisionBatch(
            request_id="bits", route="/predict/batch", key_id=None, decided_at=datetime.now(UTC),
            model_version="v", threshold=0.2915, inputs=rows, probabilities=probabilities,
            defaults=decide(np.array(probabilities), 0.2915).tolist(),
            scores=[886, 88, 886, 512, 88, 545], grades=[1, 8, 1, 4, 8, 3],
            reasons=[[], ["A"], ["A", "B"], [], [], []],
        )  # fmt: skip
        store.write([batch])
        records = store.by_request("bits")
        assert [r["probability"] for r in records] == probabilities
        assert [r["reasons"] for r in records] == [[], ["A"], ["A", "B"], [], [], []]
        assert [r["score"] for r in records] == [886, 88, 886, 512, 88, 545]
        assert [r["grade"] for r in records] == [1, 8, 1, 4, 8, 3]
        assert [r["default"] for r in records] == [p >= 0.2915 for p in probabilities]
    finally:
        store.close()


async def test_concurrent_requests_share_one_commit(
    synthetic_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: requests that arrive while a commit is under way go out together in
    the next one, and each is answered only after its own commit."""
    groups: list[int] = []
    committed: set[str] = set()
    write = DecisionStore.write

    def counted(store: DecisionStore, batches: list[DecisionBatch]) -> None:
        write(store, batches)
        groups.append(len(batches))
        committed.update(batch.request_id for batch in batches)

    monkeypatch.setattr(DecisionStore, "write", counted)
    url = f"sqlite:///{tmp_path / 'decisions.sqlite3'}"
    async with asgi_client(settings_for(synthetic_store, url)) as client:
        groups.clear()  # the start-up probe writes through another path; nothing counted

        async def one(index: int) -> None:
            response = await client.post(
                "/predict", json=EXAMPLE_CUSTOMER, headers={"X-Request-ID": f"group-{index}"}
            )
            assert response.status_code == 200
            assert f"group-{index}" in committed  # its commit returned before its answer

        async with anyio.create_task_group() as tasks:
            for index in range(32):
                tasks.start_soon(one, index)
        assert sum(groups) == 32
        assert len(groups) < 32  # at least one commit carried several requests
        assert max(groups) > 1
        page = (await client.get("/decisions", params={"limit": 100})).json()
        assert {r["request_id"] for r in page["decisions"]} == {f"group-{i}" for i in range(32)}


def _with_shadow(request_id: str, when: datetime, shadow_version: str = "v2") -> DecisionBatch:
    rows, _ = synthetic_customers(3, seed=4)
    probabilities = [0.1, 0.5, 0.25]
    return DecisionBatch(
        request_id=request_id, route="/predict/batch", key_id=None, decided_at=when,
        model_version="v1", threshold=0.3, inputs=rows, probabilities=probabilities,
        defaults=decide(np.array(probabilities), 0.3).tolist(), scores=[660, 540, 580],
        grades=None, reasons=None,
        shadows=(
            ShadowBatch(
                model_version=shadow_version, role="shadow", positions=[0, 1, 2],
                probabilities=[0.2, 0.45, 0.35], defaults=[False, True, True],
                scores=[640, 545, 560], grades=[2, 5, 4], reasons=[None, '["A"]', None],
            ),
        ),
    )  # fmt: skip


def test_shadow_scores_share_their_decisions_transaction_and_purge(decision_log_url: str) -> None:
    """On both backends: shadow scores come back beside their decisions; a write whose
    shadow rows cannot be written leaves no decision either; a purge takes both, and the
    decisions' outcomes."""
    from sqlalchemy import text

    store = DecisionStore(decision_log_url, 5)
    try:
        store.migrate()
        store.write([_with_shadow("kept", datetime.now(UTC))])
        store.write([_with_shadow("old", datetime.now(UTC) - timedelta(days=40))])
        records = store.by_request("kept")
        assert [[s["probability"] for s in r["shadows"]] for r in records] == [
            [0.2],
            [0.45],
            [0.35],
        ]
        assert records[1]["shadows"][0] == {
            "model_version": "v2", "role": "shadow", "probability": 0.45, "default": True,
            "score": 545, "grade": 5, "reasons": ["A"],
        }  # fmt: skip
        seen = datetime.now(UTC)
        outcomes = [
            OutcomeItem(request_id=request, position=position, defaulted=False, observed_at=seen)
            for request, position in (("old", 0), ("old", 1), ("kept", 0))
        ]
        assert store.record_outcomes(outcomes, key_id=None).recorded == 3
        correction = OutcomeItem(
            request_id="old", position=0, defaulted=True, observed_at=seen, correction=True
        )
        assert store.record_outcomes([correction], key_id=None).refused == []
        assert store.purge(datetime.now(UTC) - timedelta(days=30)) == 3
        with store.engine.connect() as connection:
            left = connection.execute(text("SELECT DISTINCT request_id FROM shadow_scores"))
            assert [row[0] for row in left] == ["kept"]
            # The old decisions' outcomes, the correction and what it replaced, went too.
            left = connection.execute(text("SELECT request_id, position FROM outcomes"))
            assert [tuple(row) for row in left] == [("kept", 0)]
        # Shadow rows that cannot be written (their table gone) fail the whole write: the
        # decisions must not be on record without them.
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE shadow_scores RENAME TO shadow_scores_away"))
        with pytest.raises(DecisionStoreError):
            store.write([_with_shadow("lost", datetime.now(UTC))])
        assert store.by_request("lost") == []
    finally:
        store.close()
