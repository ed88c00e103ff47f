"""The champion/challenger statistics in `model_store.metrics` held to scipy, scikit-learn
and a brute-force DeLong written here from the 1988 definition: every defaulter compared
with every non-defaulter, no ranks."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from model_store import metrics


def _reference_delong(
    labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray
) -> tuple[float, float, float]:
    """(variance of auc_b - auc_a, z, p) by the definition, in O(m n)."""
    defaulted = labels == 1
    m, n = int(defaulted.sum()), int((~defaulted).sum())
    v10, v01 = [], []
    for s in (scores_a, scores_b):
        x, y = s[defaulted][:, None], s[~defaulted][None, :]
        psi = np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))  # m x n
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))

    def sample_covariance(rows: list[np.ndarray]) -> np.ndarray:
        centred = [r - r.mean() for r in rows]
        return np.array(
            [[np.sum(u * v) / (len(u) - 1) for v in centred] for u in centred], dtype=np.float64
        )

    s = sample_covariance(v10) / m + sample_covariance(v01) / n
    variance = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (v10[1].mean() - v10[0].mean()) / math.sqrt(variance)
    return variance, z, 2 * stats.norm.sf(abs(z))


def _credit_rows(seed: int, rows: int = 300, decimals: int = 2):
    """Labels and two correlated, rounded (so tied) default probabilities."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-(risk - 1.0)))).astype(np.int64)
    a = np.round(1 / (1 + np.exp(-(risk + rng.normal(scale=1.0, size=rows)))), decimals)
    b = np.round(1 / (1 + np.exp(-(risk + rng.normal(scale=0.7, size=rows)))), decimals)
    return labels, a, b


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [None, 4, 30])
def test_spearman_matches_scipy(seed: int, levels: int | None) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=250)
    b = 0.5 * a + rng.normal(size=250)
    if levels is not None:  # many ties: few distinct values
        a, b = np.floor(a * levels / 4), np.floor(b * levels / 4)
    expected = stats.spearmanr(a, b).statistic
    assert metrics.spearman_correlation(a, b) == pytest.approx(expected, abs=1e-12, rel=0)


def test_spearman_of_a_ranking_with_itself_and_its_reverse() -> None:
    a = np.round(np.random.default_rng(1).random(100), 1)
    assert metrics.spearman_correlation(a, a) == 1.0
    assert metrics.spearman_correlation(a, -a) == -1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.full(20, 0.3), np.arange(20.0)),
        (np.arange(20.0), np.full(20, 0.3)),
        (np.array([0.1]), np.array([0.2])),
        (np.array([]), np.array([])),
    ],
)
def test_spearman_is_nan_without_variation(a: np.ndarray, b: np.ndarray) -> None:
    assert math.isnan(metrics.spearman_correlation(a, b))


def test_spearman_refuses_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        metrics.spearman_correlation(np.arange(3.0), np.arange(4.0))


def test_average_ranks_match_scipy() -> None:
    values = np.round(np.random.default_rng(2).normal(size=500), 1)
    np.testing.assert_array_equal(metrics.average_ranks(values), stats.rankdata(values))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_delong_matches_the_definition(seed: int, decimals: int) -> None:
    labels, a, b = _credit_rows(seed, decimals=decimals)
    result = metrics.delong_test(labels, a, b)
    variance, z, p = _reference_delong(labels, a, b)

    assert result.auc_a == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(labels, b), abs=1e-12)
    assert result.difference == pytest.approx(result.auc_b - result.auc_a, abs=1e-15)
    assert result.standard_error**2 == pytest.approx(variance, abs=1e-10, rel=1e-10)
    assert result.z == pytest.approx(z, abs=1e-10, rel=1e-10)
    assert result.p_value == pytest.approx(p, abs=1e-10, rel=1e-10)


def test_delong_of_identical_rankings_is_no_difference() -> None:
    labels, a, _ = _credit_rows(3)
    for same in (a, a.copy(), 2 * a + 1):  # a monotone rescaling ranks the same
        result = metrics.delong_test(labels, a, same)
        assert (result.difference, result.standard_error, result.z) == (0.0, 0.0, 0.0)
        assert result.p_value == 1.0


def test_delong_finds_a_real_difference() -> None:
    rng = np.random.default_rng(4)
    risk = rng.normal(size=400)
    labels = (rng.random(400) < 1 / (1 + np.exp(-3 * risk))).astype(np.int64)
    informative, noise = np.round(risk, 2), np.round(rng.random(400), 2)
    result = metrics.delong_test(labels, noise, informative)
    assert result.difference > 0.2
    assert result.z > 5
    assert result.p_value < 1e-6


def test_delong_is_antisymmetric() -> None:
    labels, a, b = _credit_rows(5)
    forward, backward = metrics.delong_test(labels, a, b), metrics.delong_test(labels, b, a)
    assert forward.z != 0
    assert backward.difference == -forward.difference
    assert backward.z == pytest.approx(-forward.z, rel=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)
    assert backward.standard_error == pytest.approx(forward.standard_error, rel=1e-12)
    assert (backward.auc_a, backward.auc_b) == (forward.auc_b, forward.auc_a)


def test_delong_result_is_frozen() -> None:
    labels, a, b = _credit_rows(6)
    result = metrics.delong_test(labels, a, b)
    with pytest.raises(AttributeError):
        result.p_value = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("outcome", [0, 1])
def test_delong_refuses_one_class(outcome: int) -> None:
    scores = np.linspace(0.0, 1.0, 50)
    with pytest.raises(ValueError, match="defaulters"):
        metrics.delong_test(np.full(50, outcome), scores, scores[::-1])


def test_delong_refuses_unequal_lengths() -> None:
    labels, a, b = _credit_rows(7)
    with pytest.raises(ValueError, match="one length"):
        metrics.delong_test(labels, a, b[:-1])
    with pytest.raises(ValueError, match="one length"):
        metrics.delong_test(labels[:-1], a, b)


def test_delong_refuses_labels_other_than_0_and_1() -> None:
    labels, a, b = _credit_rows(8)
    with pytest.raises(ValueError, match="0/1"):
        metrics.delong_test(labels * 2, a, b)
