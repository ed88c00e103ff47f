"""Credit-model metrics in plain numpy: what training reports and what the service
measures once outcomes arrive, in one definition. The serving process imports neither
scikit-learn nor scipy, so these are written out; the tests hold them to scikit-learn's
and scipy's figures on the same rows (1e-9).
"""

import math
from typing import Final

import numpy as np

ECE_BINS: Final = 10


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney statistic, ties counted half."""
    y = np.asarray(y, dtype=bool)
    ranks = _midranks(np.asarray(p, dtype=np.float64))
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs both outcomes among the rows")
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
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
