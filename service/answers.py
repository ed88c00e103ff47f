"""The API's answers, made from a `Decided` (each part's `Scored`): nothing here scores or
decides, it only shapes, so `/predict`, `/predict/batch` and the decision log report the
same values. Shadow scores never reach an answer.

Values are taken with `tolist()`, which turns float32 and float64 alike into the Python
floats pydantic-core serialises, the same bits for a customer on every route.
"""

from typing import Any

from model_store.scoring import REASON_CODES, ReasonScores, Scored
from schemas.api import BatchPrediction, Explanation, Prediction, Reason
from schemas.reasons import REASONS
from service.decided import Decided, Part


def prediction(decided: Decided) -> Prediction:
    """The answer of `/predict`: one customer, decided by one version."""
    [part] = decided.parts
    [customer] = _customers(part.scored)
    return Prediction(
        **customer, threshold=part.scored.threshold, model_version=part.scored.version
    )


def batch_prediction(decided: Decided) -> BatchPrediction:
    """The answer of `/predict/batch`, in the customers' order, under the champion's
    version and threshold; a customer another version decided (a live split) names that
    version and its threshold."""
    champion = decided.champion
    [first, *_] = decided.parts
    if len(decided.parts) == 1 and first.positions is None and first.scored is champion:
        predictions = _customers(champion)
    else:
        predictions = [{}] * decided.count
        for part in decided.parts:
            customers = _customers(part.scored)
            if part.scored.version != champion.version:
                for customer in customers:
                    customer["model_version"] = part.scored.version
                    customer["threshold"] = part.scored.threshold
            for position, customer in zip(_places(part), customers, strict=True):
                predictions[position] = customer
    # Built, not validated: every value comes from the scoring call's own arrays, with the
    # declared types (tests hold the bytes to a validated answer's).
    return BatchPrediction.model_construct(
        model_version=champion.version,
        threshold=champion.threshold,
        count=decided.count,
        predictions=predictions,
    )


def _places(part: Part) -> list[int]:
    return list(range(len(part.scored))) if part.positions is None else part.positions.tolist()


def _customers(scored: Scored) -> list[dict[str, Any]]:
    """Per customer: probability, decision, points and grade, and reasons and explanation
    when they were asked for. (Dict displays: a third of the time of zipping names.)"""
    customers = [
        {"probability": probability, "default": default, "score": score}
        for probability, default, score in zip(
            scored.probabilities.tolist(),
            scored.defaults.tolist(),
            scored.points.tolist(),
            strict=True,
        )
    ]
    if scored.grades is not None:
        for customer, grade in zip(customers, scored.grades.tolist(), strict=True):
            customer["grade"] = grade
    if scored.reasons is not None:
        for customer, (reasons, explanation) in zip(
            customers, _reasons(scored.reasons), strict=True
        ):
            customer["reasons"], customer["explanation"] = reasons, explanation
    return customers


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
