"""Realized performance: the decisions of a version that have outcomes, measured on the
probabilities that were answered (never recomputed ones), grade by grade, month by
month, beside what training measured and what calibration alone would predict.

Figures come from model_store.metrics (plain numpy: the service imports no
scikit-learn); the tests hold them to scikit-learn's and scipy's to 1e-9.
"""

from datetime import datetime
from typing import Final

import numpy as np

from model_store.manifest import ModelManifest
from model_store.metrics import (
    brier,
    expected_auc,
    expected_calibration_error,
    jeffreys_interval,
    jeffreys_p,
    ks_statistic,
    log_loss,
    roc_auc,
    roc_points,
)
from model_store.scoring import assign_grades
from schemas.api import (
    BandStatus,
    EstimatedPerformance,
    MonthPerformance,
    PerformanceBand,
    PerformanceFigures,
    PerformanceReport,
)
from service.decisions import DecisionLog, DecisionLogDisabledError
from service.errors import PROBLEM_PREFIX, ServiceError
from service.metrics import BAND_STATUS, COVERAGE, REALIZED_AUC

RED_BELOW: Final = 0.01
AMBER_BELOW: Final = 0.05
STATUS_LEVEL: Final[dict[str, int]] = {"green": 0, "amber": 1, "red": 2}


class PerformanceUnavailableError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "performance-unavailable"
    title = "No outcome to measure against"
    description = (
        "No decision of the window has an outcome yet (POST /outcomes), or the decision log is off."
    )


def _status(p: float) -> BandStatus:
    return "red" if p < RED_BELOW else "amber" if p < AMBER_BELOW else "green"


def figures(y: np.ndarray, p: np.ndarray) -> PerformanceFigures:
    both = 0 < y.sum() < len(y)
    auc = roc_auc(y, p) if both else None
    return PerformanceFigures(
        with_outcome=len(y),
        default_rate=float(y.mean()),
        mean_probability=float(p.mean()),
        roc_auc=auc,
        gini=None if auc is None else 2 * auc - 1,
        ks=ks_statistic(y, p) if both else None,
        brier=brier(y, p),
        log_loss=log_loss(y, p),
        ece=expected_calibration_error(y, p),
    )


CURVE_POINTS: Final = 201


def roc_curve(y: np.ndarray, p: np.ndarray) -> list[tuple[float, float]]:
    """The ROC curve, thinned to at most CURVE_POINTS points (its ends kept)."""
    fpr, tpr = roc_points(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(CURVE_POINTS, len(fpr))).round().astype(int))
    return list(zip(fpr[keep].tolist(), tpr[keep].tolist(), strict=True))


def _bands(y: np.ndarray, p: np.ndarray, manifest: ModelManifest) -> list[PerformanceBand]:
    if manifest.master_scale is not None:
        which = assign_grades(p, manifest.master_scale)
    else:  # deciles of the window's own probabilities
        edges = np.quantile(p, np.linspace(0, 1, 11)[1:-1])
        which = np.searchsorted(edges, p, side="right") + 1
    bands = []
    for band in np.unique(which).tolist():
        members = which == band
        count, defaults = int(members.sum()), int(y[members].sum())
        mean_probability = float(p[members].mean())
        test = jeffreys_p(defaults, count, mean_probability)
        bands.append(
            PerformanceBand(
                band=band,
                count=count,
                defaults=defaults,
                observed_rate=defaults / count,
                mean_probability=mean_probability,
                jeffreys_p=test,
                status=_status(test),
                jeffreys_interval=jeffreys_interval(defaults, count),
            )
        )
    return bands


def measure_performance(
    decisions: DecisionLog,
    manifest: ModelManifest,
    since: datetime | None,
    until: datetime | None,
) -> PerformanceReport:
    """The report for `manifest`'s version over [since, until); also published as the
    realized-performance gauges."""
    try:
        store = decisions.reader()
    except DecisionLogDisabledError:
        raise PerformanceUnavailableError(
            "The decision log is off (DECISION_LOG_URL=none)."
        ) from None
    probabilities, defaulted, months = store.with_outcomes(manifest.version, since, until)
    known = ~np.isnan(defaulted)
    if not known.any():
        raise PerformanceUnavailableError(
            f"No decision of model {manifest.version} in the window has an outcome yet."
        )
    y, p = defaulted[known].astype(np.int64), probabilities[known]
    overall = figures(y, p)
    change = None if overall.roc_auc is None else overall.roc_auc - manifest.metrics.roc_auc
    month_of = np.asarray(months, dtype=object)
    by_month = []
    for month in sorted(set(month_of[known].tolist())):
        in_month = month_of == month
        chosen = in_month & known
        by_month.append(
            MonthPerformance(
                month=month,
                decisions=int(in_month.sum()),
                **figures(defaulted[chosen].astype(np.int64), probabilities[chosen]).model_dump(),
            )
        )
    report = PerformanceReport(
        **overall.model_dump(),
        model_version=manifest.version,
        since=since,
        until=until,
        decisions=len(probabilities),
        coverage=float(known.mean()),
        training=manifest.metrics,
        roc_auc_change=change,
        bands=_bands(y, p, manifest),
        roc_curve=roc_curve(y, p) if overall.roc_auc is not None else [],
        by_month=by_month,
        estimated=EstimatedPerformance(
            decisions=len(probabilities),
            default_rate=float(probabilities.mean()),
            roc_auc=expected_auc(probabilities),
        ),
    )
    _publish(report)
    return report


def _publish(report: PerformanceReport) -> None:
    version = report.model_version
    COVERAGE.labels(version).set(report.coverage)
    if report.roc_auc is not None:
        REALIZED_AUC.labels(version).set(report.roc_auc)
    for band in report.bands:
        BAND_STATUS.labels(version, str(band.band)).set(STATUS_LEVEL[band.status])
