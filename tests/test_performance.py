"""Realized performance: the figures of GET /monitoring/performance against scikit-learn's
and scipy's on the same rows, the traffic light per grade, and the metrics in plain
numpy that the service computes them with."""

import numpy as np
import pytest
from scipy.stats import beta
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from model_store import metrics
from model_store.scoring import assign_grades
from service.settings import ServiceSettings
from tests.support.models import synthetic_customers
from tests.support.servers import asgi_client, assert_problem
from train.evaluation import expected_calibration_error

pytestmark = pytest.mark.anyio
EXACT = 1e-9


def test_the_numpy_metrics_equal_scikit_learns_and_scipys() -> None:
    rng = np.random.default_rng(1)
    p = np.round(rng.random(30_000), 3)  # ties, as float32 probabilities have
    y = (rng.random(30_000) < p).astype(int)
    assert abs(metrics.roc_auc(y, p) - roc_auc_score(y, p)) <= EXACT
    fpr, tpr, _ = roc_curve(y, p)
    assert abs(metrics.ks_statistic(y, p) - np.max(tpr - fpr)) <= EXACT
    assert abs(metrics.brier(y, p) - brier_score_loss(y, p)) <= EXACT
    assert abs(metrics.log_loss(y, p) - log_loss(y, p)) <= EXACT
    for defaults, customers, pd in [(0, 10, 0.01), (40, 1000, 0.05), (700, 1017, 0.6)]:
        expected = beta.cdf(pd, defaults + 0.5, customers - defaults + 0.5)
        assert abs(metrics.jeffreys_p(defaults, customers, pd) - expected) <= EXACT
    for _ in range(300):
        defaults = int(rng.integers(0, 800))
        customers, pd = defaults + int(rng.integers(1, 20_000)), float(rng.random())
        expected = beta.cdf(pd, defaults + 0.5, customers - defaults + 0.5)
        assert abs(metrics.jeffreys_p(defaults, customers, pd) - expected) <= EXACT


def test_the_expected_auc_is_the_roc_of_expected_hits() -> None:
    p = np.random.default_rng(2).random(5_000)
    order = np.argsort(-p)
    tp, fp = np.r_[0, np.cumsum(p[order])], np.r_[0, np.cumsum(1 - p[order])]
    expected = np.trapezoid(tp / tp[-1], fp / fp[-1])
    assert abs(metrics.expected_auc(p) - expected) <= EXACT


async def _score(client, bodies: list[dict], prefix: str) -> list[float]:
    probabilities = []
    for start in range(0, len(bodies), 500):
        response = await client.post(
            "/predict/batch",
            json={"customers": bodies[start : start + 500]},
            headers={"X-Request-ID": f"{prefix}-{start // 500}"},
        )
        assert response.status_code == 200
        probabilities += [p["probability"] for p in response.json()["predictions"]]
    return probabilities


async def _post(client, prefix: str, labels: np.ndarray, correction: bool = False) -> None:
    items = [
        {
            "request_id": f"{prefix}-{i // 500}",
            "position": i % 500,
            "defaulted": bool(label),
            "observed_at": "2027-01-31T00:00:00Z",
            "correction": correction,
        }
        for i, label in enumerate(labels)
    ]
    for start in range(0, len(items), 5_000):
        sent = await client.post("/outcomes", json={"outcomes": items[start : start + 5_000]})
        assert sent.status_code == 200, sent.text


async def test_realized_figures_equal_scikit_learns_and_a_worse_grade_turns_red(
    synthetic_store, synthetic_manifest, tmp_path
) -> None:
    settings = ServiceSettings(
        model_store_dir=synthetic_store, decision_log_url=f"sqlite:///{tmp_path / 'log.db'}"
    )
    async with asgi_client(settings) as client:
        assert_problem(await client.get("/monitoring/performance"), 409)
        _, bodies = synthetic_customers(3_000, seed=21)
        p = np.array(await _score(client, bodies, "book"))
        # Outcomes drawn from the answered probabilities: a calibrated world.
        y = (np.random.default_rng(3).random(len(p)) < p).astype(int)
        await _post(client, "book", y[:2_400])  # 600 decisions still without an outcome
        report = (await client.get("/monitoring/performance")).json()

        known_p, known_y = p[:2_400], y[:2_400]
        assert report["decisions"] == 3_000
        assert report["with_outcome"] == 2_400
        assert report["coverage"] == pytest.approx(0.8)
        assert abs(report["roc_auc"] - roc_auc_score(known_y, known_p)) <= EXACT
        assert abs(report["gini"] - (2 * roc_auc_score(known_y, known_p) - 1)) <= EXACT
        fpr, tpr, _ = roc_curve(known_y, known_p)
        assert abs(report["ks"] - np.max(tpr - fpr)) <= EXACT
        assert abs(report["brier"] - brier_score_loss(known_y, known_p)) <= EXACT
        assert abs(report["log_loss"] - log_loss(known_y, known_p)) <= EXACT
        assert abs(report["ece"] - expected_calibration_error(known_y, known_p)) <= EXACT
        training = synthetic_manifest.metrics.roc_auc
        assert report["roc_auc_change"] == pytest.approx(report["roc_auc"] - training, abs=EXACT)
        assert report["estimated"]["estimate"] is True
        assert report["estimated"]["decisions"] == 3_000
        assert abs(report["estimated"]["default_rate"] - p.mean()) <= EXACT
        [month] = report["by_month"]
        assert (month["decisions"], month["with_outcome"]) == (3_000, 2_400)

        grades = assign_grades(known_p, synthetic_manifest.master_scale)
        for band in report["bands"]:
            members = grades == band["band"]
            defaults, count = int(known_y[members].sum()), int(members.sum())
            assert (band["count"], band["defaults"]) == (count, defaults)
            mean = known_p[members].mean()
            expected = beta.cdf(mean, defaults + 0.5, count - defaults + 0.5)
            assert abs(band["jeffreys_p"] - expected) <= EXACT
        statuses = {band["band"]: band["status"] for band in report["bands"]}
        assert "red" not in statuses.values()  # calibrated outcomes: nothing alarming

        # The busiest grade's customers now default twice as often: that grade turns red,
        # the others keep their status.
        busiest = max(report["bands"], key=lambda band: band["count"])["band"]
        members = np.flatnonzero(grades == busiest)
        worse = known_y.copy()
        repaid = members[known_y[members] == 0]
        extra = int(known_y[members].sum())  # as many again as defaulted
        worse[repaid[:extra]] = 1
        await _post(client, "book", worse[:2_400], correction=True)
        after = (await client.get("/monitoring/performance")).json()
        changed = {band["band"]: band["status"] for band in after["bands"]}
        assert changed[busiest] == "red"
        assert {b: s for b, s in changed.items() if b != busiest} == {
            b: s for b, s in statuses.items() if b != busiest
        }
        exposed = (await client.get("/metrics")).text
        assert "credit_default_realized_roc_auc{" in exposed
        assert f'credit_default_band_status{{band="{busiest}"' in exposed


@pytest.mark.slow
async def test_end_to_end_the_data_sets_true_labels_give_scikit_learns_figures(
    real_store, real_manifest, data_path, tmp_path
) -> None:
    """The data set's 24,000 rows scored through the API, their true labels posted as
    outcomes: the figures are scikit-learn's. Then one grade's labels change so that its
    default rate doubles: that grade turns red, the others keep their status."""
    import pandas as pd

    from schemas.features import DATASET_COLUMNS, FEATURE_NAMES
    from tests.support.data import as_bodies

    frame = pd.read_csv(data_path)
    bodies = as_bodies(
        frame[list(DATASET_COLUMNS)].rename(columns=DATASET_COLUMNS)[list(FEATURE_NAMES)]
    )
    y = frame["default.payment.next.month"].to_numpy()
    settings = ServiceSettings(
        model_store_dir=real_store, decision_log_url=f"sqlite:///{tmp_path / 'log.db'}"
    )
    async with asgi_client(settings) as client:
        p = np.array(await _score(client, bodies, "uci"))
        await _post(client, "uci", y)
        report = (await client.get("/monitoring/performance")).json()
        print(
            f"realized ROC AUC {report['roc_auc']:.6f} (scikit-learn {roc_auc_score(y, p):.6f}), "
            f"Brier {report['brier']:.6f} ({brier_score_loss(y, p):.6f}), "
            f"log loss {report['log_loss']:.6f} ({log_loss(y, p):.6f}), KS {report['ks']:.4f}"
        )
        assert report["with_outcome"] == report["decisions"] == len(y)
        assert abs(report["roc_auc"] - roc_auc_score(y, p)) <= EXACT
        assert abs(report["brier"] - brier_score_loss(y, p)) <= EXACT
        assert abs(report["log_loss"] - log_loss(y, p)) <= EXACT
        fpr, tpr, _ = roc_curve(y, p)
        assert abs(report["ks"] - np.max(tpr - fpr)) <= EXACT
        grades = assign_grades(p, real_manifest.master_scale)
        for band in report["bands"]:
            members = grades == band["band"]
            d, n = int(y[members].sum()), int(members.sum())
            expected = beta.cdf(p[members].mean(), d + 0.5, n - d + 0.5)
            assert abs(band["jeffreys_p"] - expected) <= EXACT
        before = {band["band"]: band["status"] for band in report["bands"]}
        print("statuses:", before)

        # The grade of the most customers that is not red yet: its default rate doubles.
        chosen = max(
            (b for b in report["bands"] if b["status"] != "red" and b["observed_rate"] < 0.5),
            key=lambda b: b["count"],
        )["band"]
        members = np.flatnonzero(grades == chosen)
        repaid = members[y[members] == 0]
        worse = y.copy()
        worse[repaid[: int(y[members].sum())]] = 1
        await _post(client, "uci", worse, correction=True)
        after = {
            b["band"]: b["status"]
            for b in (await client.get("/monitoring/performance")).json()["bands"]
        }
        assert after[chosen] == "red"
        assert {b: s for b, s in after.items() if b != chosen} == {
            b: s for b, s in before.items() if b != chosen
        }
