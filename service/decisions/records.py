"""What one request puts on record: a `DecisionBatch` for the customers each version
decided (one without a live split), each made from that version's `Scored` by the data
plane and turned into table rows by the store, column-wise so a 10,000-row batch costs
little, and a `ShadowBatch` for every other version that scored them (or the promise of
them, for a single customer whose shadow scores are made beside the answer). The
decisions are the scoring call's own: nothing here decides."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import numpy as np

from model_store.scoring import Scored
from schemas import FEATURE_NAMES
from service.decisions.tables import INTEGER_INPUTS

_INTEGER_INDEXES: Final = [i for i, name in enumerate(FEATURE_NAMES) if name in INTEGER_INPUTS]
_AMOUNT_INDEXES: Final = [i for i, name in enumerate(FEATURE_NAMES) if name not in INTEGER_INPUTS]
_IS_INTEGER: Final = [name in INTEGER_INPUTS for name in FEATURE_NAMES]

# The order of a row's values, for INSERT and COPY alike.
RECORD_COLUMNS: Final = (
    "request_id", "position", "decided_at", "route", "key_id", "model_version", "threshold",
    *FEATURE_NAMES, "probability", "decision", "score", "grade", "reasons", "arm",
)  # fmt: skip
SHADOW_COLUMNS: Final = (
    "request_id", "position", "model_version", "role", "probability", "decision", "score",
    "grade", "reasons",
)  # fmt: skip


def _positions(positions: np.ndarray | None, count: int) -> list[int]:
    return list(range(count)) if positions is None else positions.tolist()


def _reason_lists(scored: Scored) -> list[str | None]:
    if scored.reasons is None:
        return [None] * len(scored)
    return [json.dumps(list(codes)) for codes in scored.reasons.codes]


class PendingShadowBatches(Protocol):
    """Shadow records still being made (service.shadows.PendingShadows)."""

    def result(self) -> tuple["ShadowBatch", ...]:
        """The records, once made (waiting for them, or making them, until then)."""


@dataclass(frozen=True, slots=True)
class ShadowBatch:
    """How one more version scored customers of a request: recorded, never answered."""

    model_version: str
    role: str  # shadow: a SHADOW_MODELS version; champion: the champion, for the
    # customers the challenger decided
    positions: Sequence[int]  # each row's customer's place in its request
    probabilities: Sequence[float]
    defaults: Sequence[bool]
    scores: Sequence[int]
    grades: Sequence[int | None]
    reasons: Sequence[str | None]  # JSON lists of codes; None when not computed

    @classmethod
    def split(cls, scored: Scored, role: str, counts: Sequence[int]) -> list["ShadowBatch"]:
        """`scored`'s rows (several requests' customers, one after another, `counts` of
        each) as one shadow record per request, every customer at its own position."""
        whole = cls.of(scored, role, None)
        parts, start = [], 0
        for count in counts:
            end = start + count
            parts.append(
                cls(
                    model_version=whole.model_version,
                    role=role,
                    positions=range(count),
                    probabilities=whole.probabilities[start:end],
                    defaults=whole.defaults[start:end],
                    scores=whole.scores[start:end],
                    grades=whole.grades[start:end],
                    reasons=whole.reasons[start:end],
                )
            )
            start = end
        return parts

    @classmethod
    def of(cls, scored: Scored, role: str, positions: np.ndarray | None) -> "ShadowBatch":
        """The shadow record of `scored`, whose rows are the customers at `positions`
        (None: every customer, in order)."""
        count = len(scored)
        return cls(
            model_version=scored.version,
            role=role,
            positions=_positions(positions, count),
            probabilities=scored.probabilities.tolist(),
            defaults=scored.defaults.tolist(),
            scores=scored.points.tolist(),
            grades=[None] * count if scored.grades is None else scored.grades.tolist(),
            reasons=_reason_lists(scored),
        )

    def rows(self, request_id: str) -> list[tuple[Any, ...]]:
        """The rows in SHADOW_COLUMNS order."""
        return [
            (request_id, position, self.model_version, self.role, *values)
            for position, *values in zip(
                self.positions,
                self.probabilities,
                self.defaults,
                self.scores,
                self.grades,
                self.reasons,
                strict=True,
            )
        ]


@dataclass(frozen=True, slots=True)
class DecisionBatch:
    """The decisions of one request: every customer it scored, in request order."""

    request_id: str
    route: str
    key_id: str | None
    decided_at: datetime  # UTC
    model_version: str
    threshold: float
    inputs: np.ndarray  # (customers, 23) float64, in FEATURE_NAMES order, as scored
    probabilities: Sequence[float]
    defaults: Sequence[bool]  # the decision answered for each customer
    scores: Sequence[int]  # the score points answered
    grades: Sequence[int] | None  # the grades answered; None without a master scale
    reasons: Sequence[Sequence[str]] | None  # None when reasons were not computed
    # With a live split: the arm these customers are in, and their places in the request
    # (None: every customer, in order).
    arm: str | None = None
    positions: Sequence[int] | None = None
    shadows: tuple[ShadowBatch, ...] = ()  # the other versions' scores, same transaction
    # More shadow scores, still being made (service.shadows) while the answer is: the
    # writer waits for them before the transaction. They always arrive, empty at worst.
    pending_shadows: "PendingShadowBatches | None" = None

    @classmethod
    def of(
        cls,
        scored: Scored,
        request_id: str,
        route: str,
        key_id: str | None,
        decided_at: datetime,
        arm: str | None = None,
        positions: np.ndarray | None = None,
        shadows: tuple[ShadowBatch, ...] = (),
        pending_shadows: "PendingShadowBatches | None" = None,
    ) -> "DecisionBatch":
        """The record of an answer made from `scored`, whose rows are the customers at
        `positions`."""
        return cls(
            request_id=request_id,
            route=route,
            key_id=key_id,
            decided_at=decided_at,
            model_version=scored.version,
            threshold=scored.threshold,
            inputs=scored.inputs,
            probabilities=scored.probabilities.tolist(),
            defaults=scored.defaults.tolist(),
            scores=scored.points.tolist(),
            grades=None if scored.grades is None else scored.grades.tolist(),
            reasons=None if scored.reasons is None else scored.reasons.codes,
            arm=arm,
            positions=None if positions is None else positions.tolist(),
            shadows=shadows,
            pending_shadows=pending_shadows,
        )

    @property
    def has_shadows(self) -> bool:
        """Whether the batch has shadow scores, made or being made."""
        return bool(self.shadows) or self.pending_shadows is not None

    def shadow_rows(self) -> list[tuple[Any, ...]]:
        """Every shadow score of the batch, in SHADOW_COLUMNS order (waiting for those
        still being made)."""
        shadows = self.shadows
        if self.pending_shadows is not None:
            shadows = shadows + self.pending_shadows.result()
        return [row for shadow in shadows for row in shadow.rows(self.request_id)]

    def __len__(self) -> int:
        return len(self.probabilities)

    def rows(self, decided_at: Any) -> list[tuple[Any, ...]]:
        """The batch's rows in RECORD_COLUMNS order; `decided_at` as the driver wants it."""
        if len(self.probabilities) == 1:  # /predict: plain Python beats numpy's set-up
            [row] = self.inputs.tolist()
            values = [int(v) if integer else v for v, integer in zip(row, _IS_INTEGER, strict=True)]
            [probability] = self.probabilities
            [default] = self.defaults
            [score] = self.scores
            grade = None if self.grades is None else self.grades[0]
            reasons = None if self.reasons is None else json.dumps(list(self.reasons[0]))
            position = 0 if self.positions is None else self.positions[0]
            return [
                (
                    self.request_id, position, decided_at, self.route, self.key_id,
                    self.model_version, self.threshold, *values, probability, default, score,
                    grade, reasons, self.arm,
                )
            ]  # fmt: skip
        columns: list[Any] = [None] * len(FEATURE_NAMES)
        integers = self.inputs[:, _INTEGER_INDEXES].astype(np.int64).T.tolist()
        amounts = self.inputs[:, _AMOUNT_INDEXES].T.tolist()
        for index, values in zip(_INTEGER_INDEXES, integers, strict=True):
            columns[index] = values
        for index, values in zip(_AMOUNT_INDEXES, amounts, strict=True):
            columns[index] = values
        count = len(self.probabilities)
        reasons = (
            [None] * count
            if self.reasons is None
            else [json.dumps(list(codes)) for codes in self.reasons]
        )
        threshold = self.threshold
        grades = [None] * count if self.grades is None else self.grades
        arm = self.arm
        positions = range(count) if self.positions is None else self.positions
        return [
            (
                self.request_id, position, decided_at, self.route, self.key_id,
                self.model_version, threshold, *values, probability, default, score, grade,
                reason, arm,
            )
            for position, values, probability, default, score, grade, reason in zip(
                    positions,
                    zip(*columns, strict=True),
                    self.probabilities,
                    self.defaults,
                    self.scores,
                    grades,
                    reasons,
                    strict=True,
            )
        ]  # fmt: skip
