"""The API's answers, made from a `Scored`: nothing here scores or decides, it only
shapes, so `/predict`, `/predict/batch` and the decision log report the same values.

Values are taken with `tolist()`, which turns float32 and float64 alike into the Python
floats pydantic-core serialises, the same bits for a customer on every route.
"""

from typing import Any

from model_store.scoring import REASON_CODES, ReasonScores, Scored
from schemas.api import BatchPrediction, Explanation, Prediction, Reason
from schemas.reasons import REASONS


def prediction(scored: Scored) -> Prediction:
    """The answer of `/predict`: `scored` holds one customer."""
    [customer] = _customers(scored)
    return Prediction(**customer, threshold=scored.threshold, model_version=scored.version)


def batch_prediction(scored: Scored) -> BatchPrediction:
    """The answer of `/predict/batch`, in the customers' order."""
    return BatchPrediction.model_validate(
        {
            "model_version": scored.version,
            "threshold": scored.threshold,
            "count": len(scored),
            "predictions": _customers(scored),
        }
    )


def _customers(scored: Scored) -> list[dict[str, Any]]:
    """Per customer: probability, decision, points and grade, and reasons and explanation
    when they were asked for."""
    columns: dict[str, list[Any]] = {
        "probability": scored.probabilities.tolist(),
        "default": scored.defaults.tolist(),
        "score": scored.points.tolist(),
    }
    if scored.grades is not None:
        columns["grade"] = scored.grades.tolist()
    if scored.reasons is not None:
        columns["reasons"], columns["explanation"] = zip(*_reasons(scored.reasons), strict=True)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _reasons(scores: ReasonScores) -> list[tuple[list[Reason], Explanation]]:
    """Per row: the principal reasons and the full explanation."""
    return [
        (
            [_reason(i, row[i]) for i in chosen],
            {"base": scores.base, "contributions": dict(zip(REASON_CODES, row, strict=True))},
        )
        for row, chosen in zip(scores.by_reason.tolist(), scores.principal, strict=True)
    ]


def _reason(index: int, contribution: float) -> Reason:
    return {"code": REASON_CODES[index], "text": REASONS[index].text, "contribution": contribution}
