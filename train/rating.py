"""The master scale: contiguous PD ranges, one grade each, chosen on the training split.

Banks decide and back-test grade by grade, so a grade must mean something on customers
the model never saw: its observed default rate must sit above the grade below it, and no
grade may hold so many customers that it stops telling them apart. The EU CRR (Art.
170(1)(b)) asks for at least seven grades for obligors not in default.

The bounds are chosen on the training split's out-of-fold probabilities only: twenty
quantile bins, then the two neighbours whose default rates are hardest to tell apart
(the smallest two-proportion z statistic) are merged, again and again, until every pair
of neighbours differs clearly or seven grades remain, never making a grade larger than a
third of the customers. The held-out rows then check the scale; they never shape it.
"""

import itertools
from typing import Final

import numpy as np
from scipy.stats import beta

from model_store.manifest import Grade, MasterScale
from model_store.scoring import assign_grades

MIN_GRADES: Final = 7
MAX_SHARE: Final = 1 / 3
START_BINS: Final = 20
CLEAR_DIFFERENCE_Z: Final = 3.0
CHOSEN_BY: Final = (
    f"{START_BINS} quantile bins of the training split's out-of-fold probabilities, "
    "neighbours with the least distinguishable default rates merged (two-proportion z) "
    f"until every neighbour differs by z >= {CLEAR_DIFFERENCE_Z:g} or {MIN_GRADES} grades "
    f"remain, no grade above {MAX_SHARE:.0%} of the customers"
)


class MasterScaleRefusedError(Exception):
    """The held-out rows break the scale's rules: no version is saved."""


def _z(defaults: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Two-proportion z of each neighbour pair's default rates (the higher grade's minus
    the lower's): small or negative means the two grades are not told apart."""
    d1, d2, n1, n2 = defaults[:-1], defaults[1:], counts[:-1], counts[1:]
    pooled = (d1 + d2) / (n1 + n2)
    spread = np.sqrt(np.maximum(pooled * (1 - pooled), 1e-12) * (1 / n1 + 1 / n2))
    return (d2 / n2 - d1 / n1) / spread


def choose_bounds(scores: np.ndarray, y: np.ndarray) -> list[float]:
    """The grades' upper PD bounds (the last is 1), from out-of-fold `scores` and labels."""
    cuts = np.unique(np.quantile(scores, np.linspace(0, 1, START_BINS + 1)[1:-1]))
    which = np.searchsorted(cuts, scores, side="right")
    counts = np.bincount(which, minlength=len(cuts) + 1).astype(float)
    defaults = np.bincount(which, weights=y, minlength=len(cuts) + 1)
    keep = counts > 0
    cuts = list(cuts[keep[1:]])  # an empty bin joins the one below it
    counts, defaults = counts[keep], defaults[keep]
    total = counts.sum()
    while len(counts) > MIN_GRADES:
        z = _z(defaults, counts)
        mergeable = (counts[:-1] + counts[1:]) / total <= MAX_SHARE
        if not mergeable.any():
            break
        pair = int(np.argmin(np.where(mergeable, z, np.inf)))
        if z[pair] >= CLEAR_DIFFERENCE_Z:
            break
        counts[pair] += counts[pair + 1]
        defaults[pair] += defaults[pair + 1]
        counts, defaults = np.delete(counts, pair + 1), np.delete(defaults, pair + 1)
        del cuts[pair]
    return [float(c) for c in cuts] + [1.0]


def jeffreys_interval(defaults: int, customers: int, level: float = 0.95) -> tuple[float, float]:
    """The Jeffreys interval of a default rate: Beta(D + 1/2, N - D + 1/2) quantiles."""
    a, b = defaults + 0.5, customers - defaults + 0.5
    tail = (1 - level) / 2
    return float(beta.ppf(tail, a, b)), float(beta.ppf(1 - tail, a, b))


def master_scale(
    bounds: list[float], held_out_p: np.ndarray, held_out_y: np.ndarray, check: bool
) -> MasterScale:
    """The scale with each grade's held-out figures; `check` (False for quick versions)
    says whether the held-out rows were held to the scale's two rules."""
    lowers = [0.0, *bounds[:-1]]
    provisional = MasterScale(
        chosen_by=CHOSEN_BY,
        grades=[
            Grade(
                grade=i + 1,
                lower_pd=low,
                upper_pd=high,
                held_out_customers=0,
                mean_pd=None,
                observed_default_rate=None,
                jeffreys_interval=None,
            )
            for i, (low, high) in enumerate(zip(lowers, bounds, strict=True))
        ],
        held_out_check="not checked",
    )
    which = assign_grades(held_out_p, provisional)
    grades = []
    for grade in provisional.grades:
        members = which == grade.grade
        n, d = int(members.sum()), int(held_out_y[members].sum())
        grades.append(
            grade.model_copy(
                update={
                    "held_out_customers": n,
                    "mean_pd": float(held_out_p[members].mean()) if n else None,
                    "observed_default_rate": d / n if n else None,
                    "jeffreys_interval": jeffreys_interval(d, n) if n else None,
                }
            )
        )
    outcome = "not checked"
    if check:
        failures = scale_failures(grades, len(held_out_p))
        if failures:
            raise MasterScaleRefusedError(
                f"the master scale fails on the held-out rows ({'; '.join(failures)}); "
                "not saving this version"
            )
        outcome = "passed"
    return provisional.model_copy(update={"grades": grades, "held_out_check": outcome})


def scale_failures(grades: list[Grade], customers: int) -> list[str]:
    """Which of the scale's rules the held-out rows break (none: it passes)."""
    failures = []
    if len(grades) < MIN_GRADES:
        failures.append(f"{len(grades)} grades, fewer than {MIN_GRADES}")
    for lower, higher in itertools.pairwise(grades):
        a, b = lower.observed_default_rate, higher.observed_default_rate
        if a is None or b is None or b <= a:
            failures.append(f"grade {higher.grade}'s observed default rate does not rise")
    crowded = [g.grade for g in grades if g.held_out_customers > customers * MAX_SHARE]
    if crowded:
        failures.append(f"grades {crowded} hold more than a third of the customers")
    return failures
