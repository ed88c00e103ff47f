"""Champion against challenger, over the customers both scored: what a validator asks
before a promotion. How often they agree, who would swap in and out, how far apart the
score distributions are, and, once outcomes arrive, which ranks the defaulters better on
the same customers, with DeLong's test of the difference.

Every figure is computed from the decision log's own rows: the probabilities and
decisions that were answered or recorded in shadow, never recomputed ones. numpy only,
through model_store.metrics and model_store.drift, which the tests hold to scikit-learn
and scipy.
"""

from datetime import datetime
from typing import Any

import numpy as np

from model_store.drift import bin_shares, psi, reference_bins, status
from model_store.metrics import delong_test, spearman_correlation
from schemas.api import (
    ChallengerComparison,
    ChallengerOutcomes,
    ChallengerReport,
    SwapDefaultRates,
    SwapSet,
    VersionPerformance,
)
from service.decisions import DecisionLog
from service.performance import figures, roc_curve


def compare_challengers(
    decisions: DecisionLog, since: datetime | None, until: datetime | None
) -> ChallengerReport:
    """Every (champion, other version) pair that scored the same customers in the window."""
    rows = decisions.reader().challenger_pairs(since, until)  # 409 when the log is off
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row[2:])
    comparisons = [compare(champion, other, group) for (champion, other), group in groups.items()]
    comparisons.sort(key=lambda c: (-c.customers, c.champion_version, c.challenger_version))
    return ChallengerReport(since=since, until=until, comparisons=comparisons)


def compare(champion: str, challenger: str, rows: list[tuple[Any, ...]]) -> ChallengerComparison:
    """One pair. Each row: the champion's probability, decision and points, the
    challenger's three, and the outcome (None without one)."""
    table = np.array(
        [
            (*values[:2], *values[3:5], np.nan if values[6] is None else values[6])
            for values in rows
        ],
        dtype=np.float64,
    )
    p_champion, declined_champion = table[:, 0], table[:, 1].astype(bool)
    p_challenger, declined_challenger = table[:, 2], table[:, 3].astype(bool)
    cells = {
        "both_approve": ~declined_champion & ~declined_challenger,
        "swap_in": declined_champion & ~declined_challenger,
        "swap_out": ~declined_champion & declined_challenger,
        "both_decline": declined_champion & declined_challenger,
    }
    bins = reference_bins(p_champion, integer=False)
    drift = psi(np.asarray(bins.shares), bin_shares(p_challenger, bins))
    rank = spearman_correlation(p_champion, p_challenger)
    known = ~np.isnan(table[:, 4])
    return ChallengerComparison(
        champion_version=champion,
        challenger_version=challenger,
        customers=len(table),
        agreement=float(np.mean(declined_champion == declined_challenger)),
        swap=SwapSet(**{name: int(cell.sum()) for name, cell in cells.items()}),
        psi=drift,
        psi_status=status(drift),
        spearman=None if np.isnan(rank) else rank,
        outcomes=(
            _on_outcomes(
                champion, challenger, table[known], {n: c[known] for n, c in cells.items()}
            )
            if known.any()
            else None
        ),
    )


def _on_outcomes(
    champion: str, challenger: str, table: np.ndarray, cells: dict[str, np.ndarray]
) -> ChallengerOutcomes:
    y = table[:, 4].astype(np.int64)
    p_champion, p_challenger = table[:, 0], table[:, 2]
    delong = None
    if min(int(y.sum()), int(len(y) - y.sum())) >= 2:
        delong = delong_test(y, p_champion, p_challenger)
    return ChallengerOutcomes(
        customers=len(y),
        default_rate=SwapDefaultRates(
            **{name: float(y[cell].mean()) if cell.any() else None for name, cell in cells.items()}
        ),
        champion=_performance(champion, y, p_champion),
        challenger=_performance(challenger, y, p_challenger),
        roc_auc_difference=None if delong is None else delong.difference,
        delong_p_value=None if delong is None else delong.p_value,
    )


def _performance(version: str, y: np.ndarray, p: np.ndarray) -> VersionPerformance:
    measured = figures(y, p)
    curve = roc_curve(y, p) if measured.roc_auc is not None else []
    return VersionPerformance(**measured.model_dump(), model_version=version, roc_curve=curve)
