"""Credit-model metrics in plain numpy: what training reports and what the service
measures once outcomes arrive, in one definition. The serving process imports neither
scikit-learn nor scipy, so these are written out; the tests hold them to scikit-learn's
and scipy's figures on the same rows (1e-9).
"""

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

ECE_BINS: Final = 10


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney statistic, ties counted half."""
    y = np.asarray(y, dtype=bool)
    ranks = average_ranks(np.asarray(p, dtype=np.float64))
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs both outcomes among the rows")
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's rankdata
    'average'): the one ranking behind ROC AUC, DeLong's test and Spearman's correlation."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(-np.asarray(p, dtype=np.float64), kind="mergesort")
    ordered, hits = np.asarray(p, dtype=np.float64)[order], y[order]
    last_of_value = np.r_[ordered[1:] != ordered[:-1], True]  # thresholds between values
    tpr = np.r_[0.0, np.cumsum(hits)[last_of_value] / hits.sum()]
    fpr = np.r_[0.0, np.cumsum(~hits)[last_of_value] / (~hits).sum()]
    return fpr, tpr


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """The largest gap between the cumulative score distributions of defaulters and of
    the others: max(TPR - FPR) over every threshold."""
    fpr, tpr = roc_points(y, p)
    return float(np.max(tpr - fpr))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities held within machine epsilon of 0 and 1
    (as scikit-learn does for float64)."""
    eps = np.finfo(np.float64).eps
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed default rate - mean predicted probability| over equal-width bins,
    weighted by the share of rows in each bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(y[in_bin].mean() - proba[in_bin].mean())
    return float(error)


def expected_auc(p: np.ndarray) -> float:
    """The ROC AUC expected if the probabilities are calibrated, before any outcome (as
    NannyML's CBPE): at each threshold the expected true positives are the sum of p above
    it, the expected false positives the sum of 1 - p; the area under their ROC."""
    ordered = np.sort(np.asarray(p, dtype=np.float64))[::-1]
    last_of_value = np.r_[ordered[1:] != ordered[:-1], True]
    tp = np.r_[0.0, np.cumsum(ordered)[last_of_value]]
    fp = np.r_[0.0, np.cumsum(1 - ordered)[last_of_value]]
    tpr, fpr = tp / tp[-1], fp / fp[-1]
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b): Beta(a, b)'s distribution
    function at x, by its continued fraction (modified Lentz), to about 1e-14."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast below this point
        return 1.0 - beta_cdf(1.0 - x, b, a)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection of `beta_cdf` (to 1e-13)."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if beta_cdf(middle, a, b) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def jeffreys_interval(defaults: int, customers: int, level: float = 0.95) -> tuple[float, float]:
    """The Jeffreys interval of a default rate: Beta(D + 1/2, N - D + 1/2) quantiles."""
    a, b, tail = defaults + 0.5, customers - defaults + 0.5, (1 - level) / 2
    return beta_quantile(tail, a, b), beta_quantile(1 - tail, a, b)


def jeffreys_p(defaults: int, customers: int, pd: float) -> float:
    """The Jeffreys test of a grade: Beta(D + 1/2, N - D + 1/2)'s distribution function at
    the grade's PD. Small when the PD is too low for the defaults observed."""
    return beta_cdf(pd, defaults + 0.5, customers - defaults + 0.5)


def spearman_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation, ties given their average rank (as scipy's spearmanr):
    the Pearson correlation of the two rankings. Champion/challenger comparison uses it to
    say how far a challenger reorders the champion's customers; a PD only decides by its
    order, so two models ranking alike decide alike whatever their scales. NaN when either
    input is constant or has fewer than two values, where no correlation is defined."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Spearman needs two 1-D arrays of one length, got {a.shape}, {b.shape}")
    if len(a) < 2:
        return math.nan
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()  # mean ranks are (n + 1) / 2, exactly
    spread = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if spread == 0.0:
        return math.nan
    return float(np.clip(float(ra @ rb) / spread, -1.0, 1.0))


@dataclass(frozen=True)
class DeLongResult:
    """Two ROC AUCs on the same customers and DeLong's test of their difference."""

    auc_a: float
    auc_b: float
    difference: float  # auc_b - auc_a: positive when b ranks defaulters higher
    standard_error: float
    z: float
    p_value: float  # two-sided, from the normal distribution


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DeLongResult:
    """DeLong, DeLong & Clarke-Pearson (1988): whether two ROC AUCs measured on the same
    customers differ by more than chance. Champion/challenger comparison needs the paired
    test: both models score the same rows, so their AUCs are correlated and comparing two
    separate confidence intervals would be far too cautious. Labels are 1 for a default
    (the positive class); a higher score means more risk.

    Computed by Sun & Xu's (2014) mid-rank algorithm in O(N log N) instead of comparing
    every defaulter with every non-defaulter: each defaulter's placement V10 (its share of
    non-defaulters scored below it, ties half) and each non-defaulter's V01 (its share of
    defaulters scored above it) come from its ranks among its own class and among all.
    var(difference) = var_a + var_b - 2 cov, from S10 / m + S01 / n, the covariances of the
    placements over the m defaulters and n non-defaulters. A difference with no variance
    (the same ranking twice) gives z = 0 and p = 1."""
    y = np.asarray(labels)
    scores = [np.asarray(s, dtype=np.float64) for s in (scores_a, scores_b)]
    if y.ndim != 1 or any(s.shape != y.shape for s in scores):
        raise ValueError(
            f"DeLong's test needs labels and two scores of one length, got {y.shape}, "
            f"{scores[0].shape}, {scores[1].shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("DeLong's test needs 0/1 labels (1 = defaulted)")
    defaulted = y == 1
    m, n = int(defaulted.sum()), int((~defaulted).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's test needs at least two defaulters and two non-defaulters "
            f"to estimate its variance, got {m} and {n}"
        )
    v10, v01 = zip(*(_placements(s[defaulted], s[~defaulted]) for s in scores), strict=True)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))  # 2 x 2, ddof = 1
    covariance = s10 / m + s01 / n
    auc_a, auc_b = float(np.mean(v10[0])), float(np.mean(v10[1]))
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    if variance <= 0.0:
        return DeLongResult(auc_a, auc_b, auc_b - auc_a, 0.0, 0.0, 1.0)
    standard_error = math.sqrt(variance)
    z = (auc_b - auc_a) / standard_error
    return DeLongResult(
        auc_a, auc_b, auc_b - auc_a, standard_error, z, math.erfc(abs(z) / math.sqrt(2))
    )


def _placements(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components by mid-ranks (Sun & Xu 2014): V10, the share of
    negatives each positive outscores, and V01, the share of positives outscoring each
    negative, ties counted half. A positive's rank among all less its rank among the
    positives is the number of negatives at or below it, ties half."""
    m = len(positives)
    overall = average_ranks(np.concatenate([positives, negatives]))
    v10 = (overall[:m] - average_ranks(positives)) / len(negatives)
    v01 = 1.0 - (overall[m:] - average_ranks(negatives)) / m
    return v10, v01
