"""Reason codes and explanations for scored customers, in the API's shape.

The predictor gives each model input's exact TreeSHAP contribution; here they are summed
per reason code (schemas.reasons) and the principal reasons picked. A version without an
explainer is refused with a 409 rather than answered without reasons.
"""

import numpy as np

from model_store.runtime import Explained, Predictor
from schemas.api import Explanation, Reason
from schemas.reasons import REASONS, contributions_by_reason, top_reasons
from service.errors import PROBLEM_PREFIX, ServiceError

CODES = [reason.code for reason in REASONS]


class ExplanationUnavailableError(ServiceError):
    status = 409
    type = PROBLEM_PREFIX + "explanation-unavailable"
    title = "Explanation unavailable"
    description = "The model version has no explainer; ask without `explain` or use another."


def explain_rows(predictor: Predictor, rows: np.ndarray) -> tuple[Explained, np.ndarray]:
    """The served probabilities and, per row, each reason's contribution (rows x REASONS)."""
    if not predictor.explains:
        raise ExplanationUnavailableError(
            f"model version {predictor.version} has no explainer (it was trained before "
            "reason codes); ask without `explain`, or score with a newer version"
        )
    explained = predictor.explain(rows)
    return explained, contributions_by_reason(explained.contributions, explained.model_inputs)


def reasons_and_explanations(
    base: float, by_reason: np.ndarray
) -> list[tuple[list[Reason], Explanation]]:
    """Per row: the principal reasons and the full explanation."""
    values = by_reason.tolist()
    return [
        (
            [{"code": CODES[i], "text": REASONS[i].text, "contribution": row[i]} for i in chosen],
            {"base": base, "contributions": dict(zip(CODES, row, strict=True))},
        )
        for row, chosen in zip(values, top_reasons(by_reason), strict=True)
    ]
