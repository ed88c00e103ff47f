"""Outcomes on record: POST /outcomes and the file import, under rules that never lose or
rewrite an outcome, and the migration that adds them keeping every decision."""

import csv
import json
from pathlib import Path

import httpx
import pytest

from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES
from service.decisions import DecisionStore
from service.decisions.__main__ import main as decisions_cli
from service.keys import new_key
from service.settings import ServiceSettings
from tests.support.models import synthetic_customers
from tests.support.servers import asgi_client, assert_problem

pytestmark = pytest.mark.anyio

KEY, DIGEST = new_key()
SCORER, SCORER_DIGEST = new_key()
KEYS = json.dumps(
    [
        {"id": "collections", "digest": DIGEST, "scopes": ["outcomes", "audit"]},
        {"id": "origination", "digest": SCORER_DIGEST, "scopes": ["score", "audit"]},
    ]
)
OUTCOMES_KEY = {"Authorization": f"Bearer {KEY}"}
SCORER_KEY = {"Authorization": f"Bearer {SCORER}"}


def outcome(request_id: str, defaulted: bool, **extra: object) -> dict[str, object]:
    return {
        "request_id": request_id,
        "defaulted": defaulted,
        "observed_at": "2027-01-31T00:00:00Z",
        **extra,
    }


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'decisions.sqlite3'}"


async def _decide(client: httpx.AsyncClient) -> None:
    _, bodies = synthetic_customers(3, seed=11)
    for request_id in ("app-1", "app-2"):
        answer = await client.post(
            "/predict", json=EXAMPLE_CUSTOMER, headers={**SCORER_KEY, "X-Request-ID": request_id}
        )
        assert answer.status_code == 200
    batch = await client.post(
        "/predict/batch",
        json={"customers": bodies},
        headers={**SCORER_KEY, "X-Request-ID": "book-1"},
    )
    assert batch.status_code == 200


async def test_outcomes_are_recorded_once_corrected_explicitly_and_never_lost(
    synthetic_store: Path, decision_log_url: str
) -> None:
    """On SQLite and on PostgreSQL."""
    settings = ServiceSettings(
        model_store_dir=synthetic_store, decision_log_url=decision_log_url, api_keys=KEYS
    )
    async with asgi_client(settings) as client:
        await _decide(client)
        first = [
            outcome("app-1", True),
            outcome("book-1", False, position=2),
            outcome("book-1", True, position=0),
        ]
        sent = await client.post("/outcomes", json={"outcomes": first}, headers=OUTCOMES_KEY)
        assert sent.status_code == 200
        assert sent.json() == {"recorded": 3, "unchanged": 0}

        again = await client.post("/outcomes", json={"outcomes": first}, headers=OUTCOMES_KEY)
        assert again.json() == {"recorded": 0, "unchanged": 3}

        # A different outcome, not marked as a correction: 409 naming the item; nothing
        # of the call is recorded, not even its acceptable items.
        mixed = [outcome("app-2", True), outcome("app-1", False)]
        refused = assert_problem(
            await client.post("/outcomes", json={"outcomes": mixed}, headers=OUTCOMES_KEY), 409
        )
        assert refused["type"].endswith("outcome-conflict")
        assert [(e["field"], e["type"]) for e in refused["errors"]] == [
            ("outcomes[1]", "outcome_conflict")
        ]
        [app2] = (await client.get("/decisions/app-2", headers=OUTCOMES_KEY)).json()
        assert app2["outcome"] is None

        # An outcome for no recorded decision: 422 naming the item.
        unknown = [outcome("app-2", True), outcome("never-scored", True)]
        missing = assert_problem(
            await client.post("/outcomes", json={"outcomes": unknown}, headers=OUTCOMES_KEY),
            422,
        )
        assert [(e["field"], e["type"]) for e in missing["errors"]] == [
            ("outcomes[1]", "decision_not_found")
        ]

        # An explicit correction replaces it; the earlier one stays, with when.
        fix = [outcome("app-1", False, correction=True, observed_at="2027-02-28T00:00:00Z")]
        corrected = await client.post("/outcomes", json={"outcomes": fix}, headers=OUTCOMES_KEY)
        assert corrected.json() == {"recorded": 1, "unchanged": 0}
        [record] = (await client.get("/decisions/app-1", headers=OUTCOMES_KEY)).json()
        assert record["outcome"]["defaulted"] is False
        assert record["outcome"]["correction"] is True
        assert record["outcome"]["replaced_at"] is None
        [earlier] = record["earlier_outcomes"]
        assert earlier["defaulted"] is True
        assert earlier["observed_at"].startswith("2027-01-31T00:00:00")
        assert earlier["replaced_at"] == record["outcome"]["recorded_at"]

        book = (await client.get("/decisions/book-1", headers=OUTCOMES_KEY)).json()
        assert [r["outcome"] and r["outcome"]["defaulted"] for r in book] == [True, None, False]

        # The scope: a key without `outcomes` may not send any.
        assert_problem(
            await client.post("/outcomes", json={"outcomes": first}, headers=SCORER_KEY), 403
        )
        # Strict body: a string for a boolean, a time without a zone, an unknown key.
        bad = [{**outcome("app-2", "yes"), "observed_at": "2027-01-31", "colour": "red"}]
        problem = assert_problem(
            await client.post("/outcomes", json={"outcomes": bad}, headers=OUTCOMES_KEY), 422
        )
        assert {e["field"] for e in problem["errors"]} == {
            "outcomes[0].defaulted",
            "outcomes[0].observed_at",
            "outcomes[0].colour",
        }


async def test_outcomes_need_a_decision_log(synthetic_store: Path) -> None:
    settings = ServiceSettings(model_store_dir=synthetic_store, decision_log_url="none")
    async with asgi_client(settings) as client:
        problem = assert_problem(
            await client.post("/outcomes", json={"outcomes": [outcome("a", True)]}), 409
        )
        assert problem["type"].endswith("decision-log-disabled")


async def test_the_file_import_applies_the_same_rules_and_writes_rejects(
    synthetic_store: Path, log_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServiceSettings(
        model_store_dir=synthetic_store, decision_log_url=log_url, api_keys=KEYS
    )
    async with asgi_client(settings) as client:
        await _decide(client)
        earlier = [outcome("app-2", True), outcome("book-1", True, position=0)]
        recorded = await client.post("/outcomes", json={"outcomes": earlier}, headers=OUTCOMES_KEY)
        assert recorded.json() == {"recorded": 2, "unchanged": 0}
    source = tmp_path / "outcomes.csv"
    rows = [
        ["request_id", "position", "defaulted", "observed_at"],
        ["app-1", "0", "true", "2027-01-31T00:00:00Z"],  # recorded
        ["book-1", "1", "0", "2027-01-31T00:00:00+00:00"],  # recorded
        ["book-1", "0", "TRUE", "2027-01-31T00:00:00Z"],  # unchanged
        ["app-2", "0", "false", "2027-01-31T00:00:00Z"],  # a different outcome: refused
        ["ghost", "0", "1", "2027-01-31T00:00:00Z"],  # no such decision
        ["book-1", "x", "1", "2027-01-31T00:00:00Z"],  # not a position
        ["book-1", "2", "maybe", "2027-01-31T00:00:00Z"],  # not a boolean
        ["book-1", "2", "1", "2027-01-31"],  # no time zone
    ]
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert decisions_cli(["--url", log_url, "outcomes", "import", str(source)]) == 1
    printed = capsys.readouterr().out
    assert "8 rows: 2 recorded, 1 unchanged, 5 refused" in printed
    with (tmp_path / "outcomes.rejects.csv").open() as handle:
        rejects = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in rejects] == [6, 7, 8, 4, 5]
    by_row = {int(r["row"]): r["error"] for r in rejects}
    assert by_row[4].startswith("outcome_conflict")
    assert by_row[5].startswith("decision_not_found")
    assert by_row[6].startswith("position: expected a whole number")
    assert by_row[7].startswith("defaulted: expected true/false or 1/0")
    assert "observed_at" in by_row[8]
    store = DecisionStore(log_url, 5)
    try:
        [app1] = store.by_request("app-1")
        assert app1["outcome"]["defaulted"] is True
        book = store.by_request("book-1")
        assert [r["outcome"] and r["outcome"]["defaulted"] for r in book] == [True, False, None]
        [app2] = store.by_request("app-2")
        assert app2["outcome"]["defaulted"] is True  # the refused row changed nothing
    finally:
        store.close()
    # Never overwrites a rejects file.
    with pytest.raises(SystemExit):
        decisions_cli(["--url", log_url, "outcomes", "import", str(source)])


def test_the_outcomes_and_challenger_migrations_keep_every_record(
    decision_log_url: str,
) -> None:
    """A database at revision 0002 that holds decisions, migrated one revision at a time
    to the newest: after each step every record is the same, column for column (on SQLite
    and on PostgreSQL), and the outcomes recorded at 0003 survive 0004."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from schemas.api import OutcomeItem

    store = DecisionStore(decision_log_url, 5)

    def table(name: str) -> list[dict[str, object]]:
        with store.engine.connect() as connection:
            query = text(f"SELECT * FROM {name} ORDER BY id")
            return [dict(row) for row in connection.execute(query).mappings()]

    try:
        store.migrate("0002")
        inputs = {name: EXAMPLE_CUSTOMER[name] for name in FEATURE_NAMES}
        columns = ["request_id", "position", "decided_at", "route", "key_id", "model_version",
                   "threshold", *FEATURE_NAMES, "probability", "decision", "score", "grade",
                   "reasons"]  # fmt: skip
        rows = [
            {"request_id": f"old-{i // 3}", "position": i % 3,
             "decided_at": datetime(2026, 12, 1, 12, tzinfo=UTC), "route": "/predict/batch",
             "key_id": None, "model_version": "v1", "threshold": 0.25, **inputs,
             "probability": 0.05 * (i + 1) / 16, "decision": i % 2 == 0, "score": 600 - i,
             "grade": 1 + i % 4, "reasons": '["RECENT_DELAY"]'}
            for i in range(300)
        ]  # fmt: skip
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO decisions ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
        before = table("decisions")
        assert len(before) == 300
        assert store.revision() == ("0002", "0004")
        store.migrate("0003")
        assert table("decisions") == before
        applied = store.record_outcomes(
            [
                OutcomeItem(
                    request_id="old-0",
                    position=1,
                    defaulted=True,
                    observed_at=datetime(2026, 12, 2, tzinfo=UTC),
                )
            ],
            key_id=None,
        )
        assert applied.recorded == 1
        outcomes_before = table("outcomes")
        store.migrate()
        assert store.revision() == ("0004", "0004")
        after = table("decisions")
        print(f"records before {len(before)}, after {len(after)}")
        assert [{k: v for k, v in row.items() if k != "arm"} for row in after] == before
        assert all(row["arm"] is None for row in after)
        assert table("outcomes") == outcomes_before
        assert table("shadow_scores") == []
        for k in range(100):
            records = store.by_request(f"old-{k}")
            assert [r["probability"] for r in records] == [
                rows[3 * k + i]["probability"] for i in range(3)
            ]
            assert all(r["shadows"] == [] and r["arm"] is None for r in records)
        assert store.by_request("old-0")[1]["outcome"]["defaulted"] is True
    finally:
        store.close()


async def test_the_loop_closes_export_with_outcomes_train_serve(
    synthetic_store: Path, log_url: str, tmp_path: Path
) -> None:
    """Decisions with their outcomes exported in the data set's layout train a successor,
    whose manifest says where its data came from, and which serves."""
    import numpy as np

    from model_store import ModelStore
    from tests.support.models import SYNTHETIC_CONFIG_UPDATE
    from train.config import load_config
    from train.data import load_dataset
    from train.training import TrainOptions, train_and_save

    settings = ServiceSettings(model_store_dir=synthetic_store, decision_log_url=log_url)
    _, bodies = synthetic_customers(2_000, seed=31)
    async with asgi_client(settings) as client:
        probabilities = []
        for part in range(4):
            answer = await client.post(
                "/predict/batch",
                json={"customers": bodies[part * 500 : (part + 1) * 500]},
                headers={"X-Request-ID": f"loop-{part}"},
            )
            probabilities += [p["probability"] for p in answer.json()["predictions"]]
        labels = np.random.default_rng(5).random(2_000) < np.array(probabilities)
        items = [
            outcome(f"loop-{i // 500}", bool(label), position=i % 500)
            for i, label in enumerate(labels)
            if i % 10 != 9  # every tenth customer has no outcome yet: not exported
        ]
        sent = await client.post("/outcomes", json={"outcomes": items})
        assert sent.json() == {"recorded": 1_800, "unchanged": 0}
        version = answer.json()["model_version"]

    exported = tmp_path / "successor.csv"
    args = ["--url", log_url, "export", "--with-outcomes", str(exported)]
    assert decisions_cli(args) == 0
    dataset = load_dataset(exported)
    assert (dataset.provenance.rows, dataset.provenance.rows_used) == (1_800, 1_800)
    assert dataset.y.tolist() == [int(v) for i, v in enumerate(labels) if i % 10 != 9]
    assert "decision log export" in dataset.provenance.origin
    assert version in dataset.provenance.origin

    successor_store = tmp_path / "successor-store"
    config = load_config().model_copy(update=SYNTHETIC_CONFIG_UPDATE)
    manifest = train_and_save(
        dataset, config, TrainOptions(seed=4, quick=True), successor_store, "production"
    )
    assert manifest.data.origin == dataset.provenance.origin
    assert ModelStore(successor_store).get("production").version == manifest.version
    served = ServiceSettings(model_store_dir=successor_store, decision_log_url="none")
    async with asgi_client(served) as client:
        answer = await client.post("/predict", json=EXAMPLE_CUSTOMER)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == manifest.version


async def test_the_file_import_reads_parquet_too(
    synthetic_store: Path, log_url: str, tmp_path: Path
) -> None:
    import pandas as pd

    settings = ServiceSettings(
        model_store_dir=synthetic_store, decision_log_url=log_url, api_keys=KEYS
    )
    async with asgi_client(settings) as client:
        await _decide(client)
    source = tmp_path / "outcomes.parquet"
    pd.DataFrame(
        {
            "request_id": ["app-1", "book-1", "ghost"],
            "position": [0, 2, 0],
            "defaulted": [True, False, True],
            "observed_at": pd.to_datetime(["2027-01-31T00:00:00Z"] * 3, utc=True),
        }
    ).to_parquet(source, index=False)
    assert decisions_cli(["--url", log_url, "outcomes", "import", str(source)]) == 1
    with (tmp_path / "outcomes.rejects.csv").open() as handle:
        [reject] = list(csv.DictReader(handle))
    assert (reject["row"], reject["request_id"]) == ("3", "ghost")
    assert reject["error"].startswith("decision_not_found")
    store = DecisionStore(log_url, 5)
    try:
        [app1] = store.by_request("app-1")
        assert app1["outcome"]["defaulted"] is True
        assert app1["outcome"]["observed_at"].isoformat().startswith("2027-01-31T00:00:00")
    finally:
        store.close()
