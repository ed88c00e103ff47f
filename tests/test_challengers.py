"""Champion and challengers: shadow scoring on live traffic, the live split, and the
comparison of the two over the decision log's own rows.

The store holds two synthetic versions (`production` and `challenger`) trained on
different rows with different seeds, so they disagree about some customers.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
import uvicorn
from scipy.stats import spearmanr
from sklearn.metrics import brier_score_loss, roc_auc_score

from model_store import ModelStore
from model_store.drift import bin_shares, psi, reference_bins
from service.app import create_app
from service.keys import new_key
from service.settings import ServiceSettings
from service.split import challenger_rows
from tests.support.models import synthetic_customers
from tests.support.servers import asgi_client, assert_problem, free_port

pytestmark = pytest.mark.anyio

CUSTOMERS = 300


def settings(store: Path, log: Path, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        **{
            "model_store_dir": store,
            "decision_log_url": f"sqlite:///{log}",
            "model_watch_seconds": 0,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    return synthetic_customers(CUSTOMERS, seed=20)[1]


def versions(store: Path) -> tuple[str, str]:
    model_store = ModelStore(store)
    return model_store.resolve("production"), model_store.resolve("challenger")


# -- shadow scoring ---------------------------------------------------------------------------


async def test_a_shadow_changes_no_answer_and_is_recorded_beside_each_decision(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    champion, challenger = versions(challenger_store)
    answers: dict[str, list[bytes]] = {}
    for name, extra in (("none", {}), ("shadow", {"shadow_models": "challenger"})):
        async with asgi_client(settings(challenger_store, tmp_path / f"{name}.db", **extra)) as c:
            answers[name] = [
                (await c.post("/predict", json=customers[0])).content,
                (await c.post("/predict?explain=true", json=customers[1])).content,
                (await c.post("/predict/batch", json={"customers": customers})).content,
                (
                    await c.post("/predict/batch?explain=true", json={"customers": customers[:20]})
                ).content,
            ]
            if name == "shadow":
                await c.post("/predict/batch", json={"customers": customers}, headers=rid("b-1"))
                await c.post("/predict?explain=true", json=customers[1], headers=rid("one-1"))
                direct = (
                    await c.post("/predict/batch?version=challenger", json={"customers": customers})
                ).json()["predictions"]
                direct_one = (
                    await c.post("/predict?version=challenger&explain=true", json=customers[1])
                ).json()
                # Single customers without reasons: their shadow scores are made by the
                # log's writer, a group at a time; sent at once, so groups form.
                await asyncio.gather(
                    *(
                        c.post("/predict", json=customer, headers=rid(f"s-{k}"))
                        for k, customer in enumerate(customers[:40])
                    )
                )
                singles = [(await c.get(f"/decisions/s-{k}")).json() for k in range(40)]
                records = (await c.get("/decisions/b-1")).json()
                [one] = (await c.get("/decisions/one-1")).json()
                ready = (await c.get("/health/ready")).json()
    assert answers["shadow"] == answers["none"]  # bit for bit, reasons included
    assert json.loads(answers["shadow"][2])["model_version"] == champion
    assert len(records) == CUSTOMERS
    for record, theirs in zip(records, direct, strict=True):
        assert record["model_version"] == champion
        assert record["arm"] is None
        [shadow] = record["shadows"]
        assert shadow["model_version"] == challenger
        assert shadow["role"] == "shadow"
        assert shadow["probability"] == theirs["probability"]  # the same bits
        assert (shadow["default"], shadow["score"], shadow["grade"]) == (
            theirs["default"],
            theirs["score"],
            theirs["grade"],
        )
        assert shadow["reasons"] is None  # not asked for
    for [single], theirs in zip(singles, direct[:40], strict=True):
        assert single["position"] == 0
        assert single["shadows"] == [
            {
                "model_version": challenger,
                "role": "shadow",
                "probability": theirs["probability"],
                "default": theirs["default"],
                "score": theirs["score"],
                "grade": theirs["grade"],
                "reasons": None,
            }
        ]
    [shadow] = one["shadows"]
    assert shadow["reasons"] == [r["code"] for r in direct_one["reasons"]]
    disagree = sum(r["default"] != r["shadows"][0]["default"] for r in records)
    print(f"the two versions disagree about {disagree} of {CUSTOMERS} customers")
    assert disagree > 0  # otherwise the comparison tests below would prove little
    assert ready["shadows"] == [  # no problem, no failure
        {"ref": "challenger", "model_version": challenger, "shadowing": True, "failures": 0}
    ]


def test_single_customers_shadow_scored_in_a_group_each_get_their_own_scores(
    challenger_store: Path, customers: list[dict[str, Any]]
) -> None:
    """`submit`, what the data plane does for a customer it scores on the event loop
    while the decision log is writing: customers queued until a result is asked for, and
    then scored together, each get exactly their own scores;
    a customer the shadow itself decides is not shadowed by it; a failing shadow costs
    each customer its shadow score, counted once per customer, and every future still
    resolves."""
    from model_store.runtime import Predictor
    from schemas.features import CustomerFeatures, feature_matrix
    from service.shadows import ShadowSet

    store = ModelStore(challenger_store)
    champion, challenger = versions(challenger_store)
    shadows = ShadowSet(
        ["challenger"], lambda v: Predictor(store.load(v)), store.resolve, lambda r, e: str(e)
    )
    shadows.refresh()
    rows = feature_matrix([CustomerFeatures.model_validate(c) for c in customers[:60]])
    deciders = [challenger if k % 7 == 3 else champion for k in range(60)]
    direct = Predictor(store.load(challenger)).score(rows)

    futures = [shadows.submit(rows[k : k + 1], by) for k, by in enumerate(deciders)]
    for k, future in enumerate(futures):
        recorded = future.result()
        if deciders[k] == challenger:
            assert recorded == ()
            continue
        [shadow] = recorded
        assert shadow.model_version == challenger
        assert list(shadow.positions) == [0]
        assert shadow.probabilities == [direct.probabilities[k]]  # the same bits
        assert (list(shadow.defaults), list(shadow.scores), list(shadow.grades)) == (
            [direct.defaults[k]],
            [direct.points[k]],
            [direct.grades[k]],
        )

    shadows._states[0].predictor = _Failing(shadows._states[0].predictor)
    futures = [shadows.submit(rows[k : k + 1], champion) for k in range(10)]
    assert [future.result() for future in futures] == [()] * 10
    assert shadows.status()[0]["failures"] == 10

    # A shadow whose run returns something its records cannot be made of fails after
    # the run: that too is the shadow's failure, never the writer's.
    shadows._states[0].predictor = _Garbled(challenger)
    futures = [shadows.submit(rows[k : k + 1], champion) for k in range(4)]
    assert [future.result() for future in futures] == [()] * 4
    assert shadows.status()[0]["failures"] == 14


def rid(request_id: str) -> dict[str, str]:
    return {"X-Request-ID": request_id}


async def test_a_shadow_that_cannot_load_leaves_the_service_ready(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    extra = {"shadow_models": "challenger,nobody-set-this"}
    async with asgi_client(settings(challenger_store, tmp_path / "log.db", **extra)) as client:
        ready = await client.get("/health/ready")
        answer = await client.post("/predict", json=customers[0], headers=rid("x-1"))
        metrics = (await client.get("/metrics")).text
        [record] = (await client.get("/decisions/x-1")).json()
    assert ready.status_code == 200
    states = {s["ref"]: s for s in ready.json()["shadows"]}
    assert states["challenger"]["shadowing"] is True
    assert states["nobody-set-this"]["shadowing"] is False
    assert "alias 'nobody-set-this' is not set" in states["nobody-set-this"]["problem"]
    assert answer.status_code == 200
    assert [s["model_version"] for s in record["shadows"]] == [versions(challenger_store)[1]]
    assert 'credit_default_shadow_failures_total{shadow="nobody-set-this",stage="load"}' in metrics


async def test_a_shadow_alias_move_is_followed_by_the_watcher(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """SHADOW_MODELS=next names nothing at first; once `next` is promoted, the watcher
    loads it and the next decision carries its score."""
    store = tmp_path / "store"
    import shutil

    shutil.copytree(challenger_store, store)
    _, challenger = versions(store)
    extra = {"shadow_models": "next", "model_watch_seconds": 0.1}
    async with asgi_client(settings(store, tmp_path / "log.db", **extra)) as client:
        await client.post("/predict", json=customers[0], headers=rid("before"))
        ModelStore(store).promote(challenger, "next", by="tests", reason="a shadow arrives")
        for _ in range(100):
            shadows = (await client.get("/health/ready")).json()["shadows"]
            if shadows[0]["shadowing"]:
                break
            await asyncio.sleep(0.05)
        await client.post("/predict", json=customers[0], headers=rid("after"))
        [before] = (await client.get("/decisions/before")).json()
        [after] = (await client.get("/decisions/after")).json()
    assert before["shadows"] == []
    assert [s["model_version"] for s in after["shadows"]] == [challenger]


class _Garbled:
    """A predictor's stand-in whose scores are not scores at all."""

    def __init__(self, version: str) -> None:
        self.version, self.explains = version + "-garbled", False

    def score(self, rows: np.ndarray, explain: bool = False) -> Any:
        return object()


def shadow_failures(client: httpx.Client) -> float:
    """The challenger shadow's scoring failures, as /metrics counts them (no line yet:
    none in this process)."""
    return next(
        (
            float(line.rsplit(" ", 1)[1])
            for line in client.get("/metrics").text.splitlines()
            if line.startswith(
                'credit_default_shadow_failures_total{shadow="challenger",stage="score"}'
            )
        ),
        0.0,
    )


class _Failing:
    """A predictor's stand-in whose every score raises, as a broken runtime would."""

    def __init__(self, predictor: Any) -> None:
        self.version = predictor.version
        self.explains = predictor.explains

    def score(self, rows: np.ndarray, explain: bool = False) -> Any:
        raise RuntimeError("the shadow's runtime broke")


@pytest.fixture
def live_server(challenger_store: Path, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """uvicorn serving the app on 127.0.0.1 in this process, with the challenger shadowing,
    so a test can break the shadow while traffic flows."""
    app = create_app(settings(challenger_store, tmp_path / "log.db", shadow_models="challenger"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_shadow_that_fails_mid_load_costs_no_answer(
    live_server: tuple[str, Any],
    customers: list[dict[str, Any]],
    challenger_store: Path,
    tmp_path: Path,
) -> None:
    """Four threads send 600 requests over real HTTP to uvicorn with a shadow; after the
    first 200 the shadow's runtime starts raising. Every request is answered 200 with the
    bits the same customer gets from an app without a shadow, the failures are counted,
    and the service stays ready."""
    base, app = live_server

    async def without_a_shadow() -> list[bytes]:
        async with asgi_client(settings(challenger_store, tmp_path / "plain.db")) as client:
            return [(await client.post("/predict", json=c)).content for c in customers[:50]]

    expected = anyio.run(without_a_shadow)
    shadows = app.state.plane.registry.shadows
    sent, statuses, mismatches = [0], [], []
    lock = threading.Lock()

    def send(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for i in range(150):
                k = (worker * 150 + i) % 50
                answer = client.post("/predict", json=customers[k])
                with lock:
                    sent[0] += 1
                    if sent[0] == 200:  # the shadow breaks mid-load
                        state = shadows._states[0]
                        state.predictor = _Failing(state.predictor)
                    statuses.append(answer.status_code)
                    if answer.content != expected[k]:
                        mismatches.append(k)

    with httpx.Client(base_url=base) as client:
        failed_before = shadow_failures(client)  # the counter is the process's
    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=base) as client:
        ready = client.get("/health/ready")
        failed = shadow_failures(client) - failed_before
    print(f"{len(statuses)} answered, {failed:.0f} shadow failures")
    assert statuses == [200] * 600
    assert not mismatches
    # Every request sent after the break (three others were in flight), none answered before.
    assert 397 <= failed <= 400
    assert ready.status_code == 200
    [state] = ready.json()["shadows"]
    assert state["failures"] == failed
    assert "RuntimeError" in state["last_failure"]


def test_a_shadow_whose_scores_cannot_be_recorded_costs_no_answer(
    live_server: tuple[str, Any],
    customers: list[dict[str, Any]],
    challenger_store: Path,
    tmp_path: Path,
) -> None:
    """A shadow whose run returns something no record can be made of, met where the
    shadow scores beside the served version (one customer at a time, and a batch): each
    answer is the bits an app without a shadow gives, recorded without shadow scores,
    and each request's lost shadow score is counted."""
    base, app = live_server

    async def without_a_shadow() -> list[bytes]:
        async with asgi_client(settings(challenger_store, tmp_path / "plain.db")) as client:
            singles = [(await client.post("/predict", json=c)).content for c in customers[:5]]
            batch = await client.post("/predict/batch", json={"customers": customers[:30]})
            return [*singles, batch.content]

    expected = anyio.run(without_a_shadow)
    state = app.state.plane.registry.shadows._states[0]
    state.predictor = _Garbled(state.predictor.version)
    with httpx.Client(base_url=base, timeout=30) as client:
        failed_before = shadow_failures(client)
        answers = [  # one at a time: the log is idle, so each is scored beside its answer
            client.post("/predict", json=c, headers=rid(f"g-{k}"))
            for k, c in enumerate(customers[:5])
        ]
        answers.append(client.post("/predict/batch", json={"customers": customers[:30]}))
        records = [client.get(f"/decisions/g-{k}").json() for k in range(5)]
        failed = shadow_failures(client) - failed_before
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.content for a in answers] == expected
    assert [record["shadows"] for [record] in records] == [[]] * 5
    assert failed == 6
    assert "TypeError" in state.last_failure


# -- the live split ---------------------------------------------------------------------------


async def test_the_live_split_keeps_each_customer_in_one_arm(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    champion, challenger = versions(challenger_store)
    subjects = [f"acct-{i:06d}" for i in range(CUSTOMERS)]
    arms = challenger_rows(subjects, 30.0)
    extra = {"shadow_models": "challenger", "challenger_share": 30.0}
    async with asgi_client(settings(challenger_store, tmp_path / "log.db", **extra)) as client:
        singles = []
        for i, (customer, subject) in enumerate(zip(customers, subjects, strict=True)):
            answer = await client.post(
                "/predict", json=customer, headers={"X-Subject-ID": subject, **rid(f"s-{i}")}
            )
            singles.append(answer.json())
        again = (
            await client.post("/predict", json=customers[7], headers={"X-Subject-ID": subjects[7]})
        ).json()
        batch = (
            await client.post(
                "/predict/batch",
                json={"customers": customers, "subject_ids": subjects},
                headers=rid("split-batch"),
            )
        ).json()
        direct = {
            ref: (
                await client.post(f"/predict/batch?version={ref}", json={"customers": customers})
            ).json()["predictions"]
            for ref in ("production", "challenger")
        }
        records = (await client.get("/decisions/split-batch")).json()
        one = [(await client.get(f"/decisions/s-{i}")).json()[0] for i in range(20)]
    share = arms.mean()
    print(f"challenger's share of {CUSTOMERS} customers: {share:.3f} (asked 0.30)")
    assert 0.2 < share < 0.4
    assert again == singles[7]
    assert batch["model_version"] == champion
    for i, (single, item, record) in enumerate(
        zip(singles, batch["predictions"], records, strict=True)
    ):
        version = challenger if arms[i] else champion
        ref = "challenger" if arms[i] else "production"
        assert single["model_version"] == version
        assert single["probability"] == item["probability"] == direct[ref][i]["probability"]
        assert item.get("model_version", champion) == version
        assert ("threshold" in item) == bool(arms[i])
        assert record["position"] == i
        assert record["model_version"] == version
        assert record["arm"] == ("challenger" if arms[i] else "champion")
        [shadow] = record["shadows"]
        assert shadow["role"] == ("champion" if arms[i] else "shadow")
        other = "production" if arms[i] else "challenger"
        assert shadow["probability"] == direct[other][i]["probability"]  # both arms, both scores
    assert [r["arm"] for r in one] == ["challenger" if a else "champion" for a in arms[:20]]


async def test_subject_keys_are_checked(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    extra = {"shadow_models": "challenger", "challenger_share": 10.0}
    async with asgi_client(settings(challenger_store, tmp_path / "log.db", **extra)) as client:
        short = await client.post(
            "/predict/batch", json={"customers": customers[:3], "subject_ids": ["a", "b"]}
        )
        bad = await client.post("/predict", json=customers[0], headers={"X-Subject-ID": "a b"})
    body = assert_problem(short, 422)
    assert [(e["field"], e["type"]) for e in body["errors"]] == [("subject_ids", "length_mismatch")]
    body = assert_problem(bad, 422)
    assert [e["type"] for e in body["errors"]] == ["string_pattern_mismatch"]
    assert "x-subject-id" in body["errors"][0]["field"].lower()


def test_a_challenger_share_needs_a_challenger(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SHADOW_MODELS is empty"):
        ServiceSettings(model_store_dir=tmp_path, challenger_share=10)
    with pytest.raises(ValueError, match="less than or equal to 50"):
        ServiceSettings(model_store_dir=tmp_path, shadow_models="challenger", challenger_share=60)
    with pytest.raises(ValueError, match="the champion itself"):
        ServiceSettings(model_store_dir=tmp_path, shadow_models="production")


# -- the comparison ---------------------------------------------------------------------------


async def test_the_comparison_equals_a_reference_over_the_logs_own_rows(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Traffic under a 40% split, outcomes for most customers, then GET
    /monitoring/challengers against the same figures computed here from GET /decisions
    with numpy, scipy and scikit-learn."""
    extra = {"shadow_models": "challenger", "challenger_share": 40.0}
    rng = np.random.default_rng(5)
    async with asgi_client(settings(challenger_store, tmp_path / "log.db", **extra)) as client:
        for part in range(3):
            chunk = customers[part * 100 : (part + 1) * 100]
            await client.post(
                "/predict/batch",
                json={"customers": chunk, "subject_ids": [f"c-{part}-{i}" for i in range(100)]},
                headers=rid(f"r-{part}"),
            )
        records = [
            r for part in range(3) for r in (await client.get(f"/decisions/r-{part}")).json()
        ]
        labelled = [r for r in records if rng.random() < 0.8]
        outcomes = [
            {
                "request_id": r["request_id"],
                "position": r["position"],
                "defaulted": bool(rng.random() < 0.3 + 0.5 * r["probability"]),
                "observed_at": "2026-12-02T00:00:00Z",
            }
            for r in labelled
        ]
        assert (await client.post("/outcomes", json={"outcomes": outcomes})).status_code == 200
        report = (await client.get("/monitoring/challengers")).json()
        empty = (await client.get("/monitoring/challengers?until=2000-01-01T00:00:00Z")).json()
    assert empty["comparisons"] == []
    [comparison] = report["comparisons"]
    champion, challenger = versions(challenger_store)
    assert (comparison["champion_version"], comparison["challenger_version"]) == (
        champion,
        challenger,
    )
    # The reference: each customer's champion and challenger scores, from the records.
    pairs = []
    for r in records:
        [shadow] = r["shadows"]
        mine = (r["probability"], r["default"])
        theirs = (shadow["probability"], shadow["default"])
        pairs.append((theirs, mine) if r["arm"] == "challenger" else (mine, theirs))
    outcome_of = {(o["request_id"], o["position"]): o["defaulted"] for o in outcomes}
    p_a = np.array([a[0] for a, _ in pairs])
    p_b = np.array([b[0] for _, b in pairs])
    d_a = np.array([a[1] for a, _ in pairs])
    d_b = np.array([b[1] for _, b in pairs])
    assert comparison["customers"] == len(records) == CUSTOMERS
    assert comparison["agreement"] == pytest.approx(np.mean(d_a == d_b), abs=1e-12)
    assert comparison["swap"] == {
        "both_approve": int(np.sum(~d_a & ~d_b)),
        "swap_in": int(np.sum(d_a & ~d_b)),
        "swap_out": int(np.sum(~d_a & d_b)),
        "both_decline": int(np.sum(d_a & d_b)),
    }
    bins = reference_bins(p_a, integer=False)
    assert comparison["psi"] == pytest.approx(psi(np.array(bins.shares), bin_shares(p_b, bins)))
    assert comparison["spearman"] == pytest.approx(spearmanr(p_a, p_b).statistic, abs=1e-12)
    keys = [(r["request_id"], r["position"]) for r in records]
    known = np.array([k in outcome_of for k in keys])
    y = np.array([outcome_of.get(k, False) for k in keys], dtype=int)[known]
    measured = comparison["outcomes"]
    assert measured["customers"] == len(outcomes) == int(known.sum())
    for version, p in (("champion", p_a[known]), ("challenger", p_b[known])):
        assert measured[version]["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert measured[version]["gini"] == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)
        assert measured[version]["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert measured["roc_auc_difference"] == pytest.approx(
        roc_auc_score(y, p_b[known]) - roc_auc_score(y, p_a[known]), abs=1e-12
    )
    assert 0 < measured["delong_p_value"] <= 1
    cells = {
        "swap_in": (d_a & ~d_b)[known],
        "swap_out": (~d_a & d_b)[known],
        "both_approve": (~d_a & ~d_b)[known],
        "both_decline": (d_a & d_b)[known],
    }
    for name, cell in cells.items():
        rate = measured["default_rate"][name]
        assert rate == (pytest.approx(y[cell].mean(), abs=1e-12) if cell.any() else None)
    print(json.dumps({k: v for k, v in comparison.items() if k != "outcomes"}, indent=1))


# -- promotions on the record, over HTTP ------------------------------------------------------

ALICE, ALICE_DIGEST = new_key()
BOB, BOB_DIGEST = new_key()
READER, READER_DIGEST = new_key()
KEYS = json.dumps(
    [
        {"id": "alice", "digest": ALICE_DIGEST, "scopes": ["admin", "score", "outcomes"]},
        {"id": "bob", "digest": BOB_DIGEST, "scopes": ["admin"]},
        {"id": "reader", "digest": READER_DIGEST, "scopes": ["models:read", "metrics"]},
    ]
)


def key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_four_eyes_over_http_with_the_comparison_on_the_record(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Alice's promotion is refused until someone else approves, and the refusal changes
    nothing; her own approval does not count; Bob's promotion after her approval serves
    at once and records the comparison the decision log held at that moment."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(challenger_store, store)
    champion, challenger = versions(store)
    history_dir = store / "history"
    extra = {
        "shadow_models": "challenger",
        "api_keys": KEYS,
        "promotion_requires_approval": True,
    }

    def files() -> dict[str, bytes]:
        paths = [store / "aliases" / "production.json", *sorted(history_dir.glob("*"))]
        return {p.name: p.read_bytes() for p in paths}

    async with asgi_client(settings(store, tmp_path / "log.db", **extra)) as client:
        scored = await client.post(
            "/predict/batch", json={"customers": customers[:100]}, headers=key(ALICE)
        )
        assert scored.status_code == 200
        body = {"reason": "the challenger ranks better on last quarter's customers"}
        before = files()
        refused = await client.post(f"/models/{challenger}/promote", json=body, headers=key(ALICE))
        assert_problem(refused, 409)
        assert refused.json()["type"].endswith("approval-required")
        assert files() == before  # nothing changed
        approved = await client.post(
            f"/models/{challenger}/approve", json={"reason": "report read"}, headers=key(ALICE)
        )
        assert approved.status_code == 200
        assert approved.json()["actor"] == "api key alice"
        own = await client.post(f"/models/{challenger}/promote", json=body, headers=key(ALICE))
        assert_problem(own, 409)  # her own approval is not a second pair of eyes
        accepted = await client.post(f"/models/{challenger}/promote", json=body, headers=key(BOB))
        assert accepted.status_code == 200
        ready = (await client.get("/health/ready")).json()
        history = (await client.get("/models/history", headers=key(READER))).json()
        forbidden = await client.post(
            f"/models/{challenger}/promote", json=body, headers=key(READER)
        )
    assert_problem(forbidden, 403)
    entry = accepted.json()
    assert (entry["action"], entry["actor"], entry["alias"]) == (
        "promote",
        "api key bob",
        "production",
    )
    assert (entry["from_version"], entry["to_version"]) == (champion, challenger)
    assert entry["reason"] == body["reason"]
    assert (
        entry["report_sha256"]
        == ModelStore(store).get(challenger).artifact_checksums()["report.html"]
    )
    assert entry["comparison"]["customers"] == 100
    assert entry["comparison"]["champion_version"] == champion
    assert ready["model_version"] == challenger  # this worker serves it at once
    actions = [(e["action"], e["actor"]) for e in history["entries"]]
    assert actions[-2:] == [("approve", "api key alice"), ("promote", "api key bob")]
    assert history["head"] == entry["hash"]
    # An edited history is detected and shown as such.
    entries = history_dir / "entries.jsonl"
    entries.write_text(entries.read_text().replace("report read", "report skimmed"))
    async with asgi_client(settings(store, tmp_path / "log.db", **extra)) as client:
        tampered = await client.get("/models/history", headers=key(READER))
        blocked = await client.post(
            f"/models/{champion}/approve", json={"reason": "back"}, headers=key(BOB)
        )
    assert_problem(tampered, 409)
    assert tampered.json()["type"].endswith("history-tampered")
    assert "its hash does not match its content" in tampered.json()["detail"]
    assert str(store) not in tampered.text  # no path leaves the machine
    assert_problem(blocked, 409)


async def test_without_keys_nobody_can_be_named_so_http_does_not_promote(
    challenger_store: Path, tmp_path: Path
) -> None:
    async with asgi_client(settings(challenger_store, tmp_path / "log.db")) as client:
        answer = await client.post("/models/challenger/promote", json={"reason": "why not"})
    assert_problem(answer, 403)
    assert answer.json()["type"].endswith("actor-required")
    assert not (challenger_store / "history" / "entries.jsonl").read_text().count("why not")


async def test_with_the_log_off_a_shadow_scores_nobody(
    challenger_store: Path, customers: list[dict[str, Any]]
) -> None:
    """A shadow score exists to be recorded: with DECISION_LOG_URL=none it is not computed
    (what the log-off rows of `make bench` then cost nothing for)."""
    from service.metrics import SHADOW_CUSTOMERS

    counted = SHADOW_CUSTOMERS.labels("challenger")
    extra = {"decision_log_url": "none", "shadow_models": "challenger", "model_watch_seconds": 0}
    before = counted._value.get()
    async with asgi_client(ServiceSettings(model_store_dir=challenger_store, **extra)) as client:
        answer = await client.post("/predict/batch", json={"customers": customers[:10]})
    assert answer.status_code == 200
    assert counted._value.get() == before


async def test_an_unreadable_shadow_alias_is_the_shadows_problem_alone(
    challenger_store: Path, customers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An alias file that is not JSON fails that shadow's load, not the start-up or the
    watcher: the service is ready and answers."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(challenger_store, store)
    (store / "aliases" / "garbled.json").write_text("{not json")
    extra = {"shadow_models": "garbled", "model_watch_seconds": 0.1}
    async with asgi_client(settings(store, tmp_path / "log.db", **extra)) as client:
        await asyncio.sleep(0.3)  # the watcher has refreshed the shadow a few times
        ready = await client.get("/health/ready")
        answer = await client.post("/predict", json=customers[0])
    assert ready.status_code == 200
    assert answer.status_code == 200
    [state] = ready.json()["shadows"]
    assert state["shadowing"] is False
    assert state["problem"] == "cannot load: model 'garbled' could not be loaded"
