"""What one scoring call returns: `Scored`, and the rules that turn a probability into
a decision, score points and a grade, each applied here alone.

Every path that scores customers (`/predict`, `/predict/batch`, the decision log, the
metrics, the local and Spark portfolio engines) takes its probabilities, decisions,
points, grades and reasons from a `Scored` made by `Predictor.score`, so the decision
rule (`decide`), the points formula, the grade boundaries and the choice of a customer's
principal reasons exist once, and two paths can never disagree about the same customer.
"""

import decimal
import functools
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np

from model_store.manifest import MasterScale, ScoreScaling
from schemas.reasons import REASONS, contributions_by_reason, top_reasons

# What versions trained before score points are scaled with: the common convention.
DEFAULT_SCALING = ScoreScaling()

REASON_CODES = tuple(reason.code for reason in REASONS)


def decide(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """The decision rule: default when the probability reaches the version's threshold.

    Compared in float64 whatever the probabilities' dtype: numpy would otherwise round
    the threshold to float32 for a float32 array, and a customer exactly between the two
    roundings would be decided differently by different paths.
    """
    threshold = np.float64(threshold)
    return np.asarray(probabilities, dtype=np.float64) >= threshold


# How close to a half point a value computed in float64 must land to be recomputed exactly:
# far more than the log's last bit and the formula's own roundings can move it (about
# 1e-12 for a scale of a few thousand points), and rare enough to cost nothing (349 of
# the 1,065,353,215 float32 probabilities land within 1e-6 with the default scaling).
NEAR_HALF: Final = 1e-9
_EXACT_DIGITS: Final = 50


def score_points(probabilities: np.ndarray, scaling: ScoreScaling) -> np.ndarray:
    """Integer points, offset + factor * ln((1 - p) / p), rounded half to even: a higher
    probability never gets more points. p is held within the scaling's floor, so 0 and 1
    give the scale's finite extremes.

    The same points on every CPU: numpy's float64 log runs its own AVX-512 code where the
    CPU has it and the C library's elsewhere, and the two differ in the last bit for
    about 0.2% of inputs. That can only move a value lying next to a half point, so those
    few are rounded from the formula computed exactly instead (`_exact_points`)."""
    floor = scaling.probability_floor
    p = np.asarray(probabilities, dtype=np.float64)
    p = np.minimum(np.maximum(p, floor), 1.0 - floor)  # np.clip's values, at half its cost
    value = scaling.offset + scaling.factor * np.log((1.0 - p) / p)
    points = np.rint(value)
    near = np.abs(value - points) > 0.5 - NEAR_HALF  # within NEAR_HALF of a half point
    if near.any():
        points[near] = [_exact_points(x, scaling) for x in p[near].tolist()]
    return points.astype(np.int64)


def _exact_points(p: float, scaling: ScoreScaling) -> int:
    """offset + factor * ln((1 - p) / p) for these very floats, to 50 digits, rounded
    half to even: what no CPU's last bit can change."""
    with decimal.localcontext(prec=_EXACT_DIGITS, rounding=decimal.ROUND_HALF_EVEN):
        P = decimal.Decimal(p)
        value = (
            decimal.Decimal(scaling.offset) + decimal.Decimal(scaling.factor) * ((1 - P) / P).ln()
        )
        return int(value.to_integral_value())


def assign_grades(probabilities: np.ndarray, scale: MasterScale) -> np.ndarray:
    """Each probability's grade (1 = lowest risk): the grade whose [lower, upper) range
    holds it, the last grade's range closed at 1. Compared in float64, like `decide`."""
    p = np.asarray(probabilities, dtype=np.float64)
    grades = np.searchsorted(_inner_bounds(tuple(scale.upper_bounds)), p, side="right")
    return grades.astype(np.int64, copy=False) + 1


@functools.lru_cache(maxsize=64)
def _inner_bounds(upper_bounds: tuple[float, ...]) -> np.ndarray:
    """A scale's grade boundaries as searchsorted reads them, made once per scale (and
    read-only, being shared by every call)."""
    inner = np.array(upper_bounds[:-1], dtype=np.float64)
    inner.flags.writeable = False
    return inner


@dataclass(frozen=True)
class ReasonScores:
    """Each reason's exact contribution for every scored row, and their principal reasons."""

    base: float  # the model's expected probability: base + a row's contributions = its p
    by_reason: np.ndarray  # rows x REASONS, in REASONS order
    principal: list[list[int]]  # per row: indexes into REASONS, largest first

    @cached_property
    def codes(self) -> list[list[str]]:
        """Per row: the principal reasons' codes, as the decision log and files keep them."""
        return [[REASON_CODES[i] for i in chosen] for chosen in self.principal]

    @classmethod
    def from_contributions(
        cls, base: float, contributions: np.ndarray, model_inputs: list[str]
    ) -> "ReasonScores":
        by_reason = contributions_by_reason(contributions, model_inputs)
        return cls(base=base, by_reason=by_reason, principal=top_reasons(by_reason))

    def take(self, rows: np.ndarray) -> "ReasonScores":
        """The same reasons for the rows at `rows` (indexes), in that order."""
        return ReasonScores(
            base=self.base,
            by_reason=self.by_reason[rows],
            principal=[self.principal[i] for i in rows.tolist()],
        )


@dataclass(frozen=True)
class Scored:
    """Rows scored by one model version: what every answer, record and file is made of."""

    version: str
    threshold: float
    inputs: np.ndarray  # rows x 23, float64, FEATURE_NAMES order: exactly what was scored
    probabilities: np.ndarray  # rows
    reasons: ReasonScores | None  # None unless reasons were asked for
    scaling: ScoreScaling
    scale: MasterScale | None  # None for versions trained before grades

    def __len__(self) -> int:
        return len(self.probabilities)

    def take(self, rows: np.ndarray) -> "Scored":
        """The same version's results for the rows at `rows` (indexes), in that order: how
        a live split hands each arm its customers without scoring anyone twice."""
        return Scored(
            version=self.version,
            threshold=self.threshold,
            inputs=self.inputs[rows],
            probabilities=self.probabilities[rows],
            reasons=None if self.reasons is None else self.reasons.take(rows),
            scaling=self.scaling,
            scale=self.scale,
        )

    @cached_property
    def defaults(self) -> np.ndarray:
        """The decision for every row (True: predicted to default)."""
        return decide(self.probabilities, self.threshold)

    @cached_property
    def default_count(self) -> int:
        return int(np.count_nonzero(self.defaults))

    @cached_property
    def points(self) -> np.ndarray:
        """Score points for every row (int64)."""
        return score_points(self.probabilities, self.scaling)

    @cached_property
    def grades(self) -> np.ndarray | None:
        """The master-scale grade of every row (int64), or None without a scale."""
        return None if self.scale is None else assign_grades(self.probabilities, self.scale)
