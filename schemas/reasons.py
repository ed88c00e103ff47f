"""The reason codes: what the service tells a customer moved their score, in a bank's words.

Each model input belongs to exactly one reason, and a reason's contribution is the sum of
its inputs' exact TreeSHAP values, so the reasons of a decision add up, with the base
rate, to the probability served. Bank systems map the codes to their notice templates
(`GET /reasons`); codes are stable, texts may be reworded.

Sex, marital status and age are required by the API for fairness monitoring but are not
model inputs by default. A model trained with them on purpose
(`python -m train --include-protected`) puts their share under `PROTECTED_ATTRIBUTES`,
which is reported in `explanation` and never given as a reason for a decision.
"""

from functools import lru_cache
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ReasonCode(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Stable identifier, for mapping to notice templates.")
    text: str = Field(description="Short wording fit for a notice to the customer.")
    inputs: tuple[str, ...] = Field(description="The model inputs whose values it sums.")
    adverse_action: bool = Field(
        default=True, description="False for the one entry that is never given as a reason."
    )


REASONS: Final[tuple[ReasonCode, ...]] = (
    # A model monotone in delay sees each status as months late and a state (pay_0_late,
    # pay_0_state); earlier models saw the raw code. Either way it is the same reason.
    ReasonCode(
        code="RECENT_DELAY",
        text="Payment delay in the most recent month",
        inputs=("pay_0", "pay_0_late", "pay_0_state"),
    ),
    ReasonCode(
        code="EARLIER_DELAYS",
        text="Payments late in earlier months",
        inputs=tuple(f"pay_{m}{part}" for m in (2, 3, 4, 5, 6) for part in ("", "_late", "_state")),
    ),
    ReasonCode(
        code="MONTHS_LATE",
        text="Number of months paid late",
        inputs=("months_late", "months_paid_duly"),
    ),
    ReasonCode(code="WORST_DELAY", text="Longest payment delay", inputs=("worst_delay",)),
    ReasonCode(code="DELAY_TREND", text="Payment delays getting longer", inputs=("delay_trend",)),
    ReasonCode(
        code="HIGH_UTILISATION",
        text="High use of the credit limit",
        inputs=tuple(f"utilisation_{m}" for m in range(1, 7)),
    ),
    ReasonCode(
        code="RISING_BALANCES",
        text="Balances rising against the credit limit",
        inputs=("utilisation_trend",),
    ),
    ReasonCode(
        code="LOW_PAYMENTS",
        text="Payments small against bills",
        inputs=(
            *(f"payment_ratio_{m}" for m in range(1, 6)),
            *(f"pay_amt{m}" for m in range(1, 7)),
        ),
    ),
    ReasonCode(
        code="BALANCES_OWED",
        text="Amount owed on the account",
        inputs=tuple(f"bill_amt{m}" for m in range(1, 7)),
    ),
    ReasonCode(code="CREDIT_LIMIT", text="Low credit limit", inputs=("limit_bal",)),
    ReasonCode(code="EDUCATION", text="Level of education", inputs=("education",)),
    ReasonCode(
        code="PROTECTED_ATTRIBUTES",
        text="Protected attributes (never given as a reason)",
        inputs=("sex", "marriage", "age"),
        adverse_action=False,
    ),
)

REASON_BY_INPUT: Final[dict[str, str]] = {
    name: reason.code for reason in REASONS for name in reason.inputs
}
MAX_REASONS: Final = 4  # the principal reasons a notice gives


class ReasonCatalogue(BaseModel):
    """Every reason code the service can return."""

    reasons: list[ReasonCode]
    max_reasons: int = Field(
        description="At most this many reasons are given per decision, largest first."
    )


def reason_columns(model_inputs: list[str]) -> list[list[int]]:
    """For each reason in REASONS, the positions of its inputs among `model_inputs`.
    Refuses an input no reason claims."""
    unknown = [name for name in model_inputs if name not in REASON_BY_INPUT]
    if unknown:
        raise ValueError(f"model inputs with no reason code: {unknown}")
    return [
        [i for i, name in enumerate(model_inputs) if REASON_BY_INPUT[name] == reason.code]
        for reason in REASONS
    ]


@lru_cache(maxsize=8)
def _columns_of(model_inputs: tuple[str, ...]) -> list[list[int]]:
    return reason_columns(list(model_inputs))


def contributions_by_reason(contributions: np.ndarray, model_inputs: list[str]) -> np.ndarray:
    """rows x REASONS from rows x model inputs: what the API, the page and files report."""
    return sum_by_reason(contributions, _columns_of(tuple(model_inputs)))


def sum_by_reason(contributions: np.ndarray, columns: list[list[int]]) -> np.ndarray:
    """rows x REASONS: each reason's inputs added one after another, in the same order for
    every row (a matrix product would let BLAS pick the order by the batch's shape, and a
    customer's reasons would change in their last bits with the size of the request)."""
    sums = np.zeros((len(contributions), len(columns)))
    for reason, inputs in enumerate(columns):
        for i in inputs:
            sums[:, reason] += contributions[:, i]
    return sums


def top_reasons(by_reason: np.ndarray, limit: int = MAX_REASONS) -> list[list[int]]:
    """For each row of reason contributions: the indexes (into REASONS) of up to `limit`
    reasons that raised the risk (> 0), largest first; never the protected entry."""
    eligible = np.array([reason.adverse_action for reason in REASONS])
    ranked = np.argsort(-by_reason, axis=1, kind="stable")
    return [
        [int(i) for i in order if eligible[i] and row[i] > 0][:limit]
        for row, order in zip(by_reason, ranked, strict=True)
    ]
