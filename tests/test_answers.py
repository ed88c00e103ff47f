"""The batch answer is built from the scoring call's arrays without validation: its bytes
are held to those of the same answer validated against the declared response model."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter

from model_store import ModelStore
from model_store.runtime import Predictor
from schemas.api import BatchPrediction
from service.answers import batch_prediction
from service.decided import Decided

ANSWER = TypeAdapter(BatchPrediction)


def rows(count: int) -> np.ndarray:
    """Customers spread over the contract's ranges (what they are matters less than that
    they get different probabilities, points and grades)."""
    generator = np.random.default_rng(7)
    X = np.column_stack(
        [
            generator.integers(10, 500, count) * 1000.0,  # limit_bal
            generator.integers(1, 3, count),
            generator.integers(0, 7, count),
            generator.integers(0, 4, count),
            generator.integers(21, 75, count),
            *(generator.integers(-2, 9, count) for _ in range(6)),
            *(generator.normal(40_000, 30_000, count).round(2) for _ in range(6)),
            *(generator.exponential(4_000, count).round(2) for _ in range(6)),
        ]
    )
    return X.astype(np.float64)


@pytest.mark.parametrize("explain", [False, True])
@pytest.mark.parametrize("graded", [True, False])
def test_the_built_batch_answer_has_the_bytes_of_a_validated_one(
    challenger_store: Path, explain: bool, graded: bool
) -> None:
    store = ModelStore(challenger_store)
    champion, challenger = (Predictor(store.load(ref)) for ref in ("production", "challenger"))
    X = rows(40)
    ours, theirs = champion.score(X, explain), challenger.score(X, explain)
    if not graded:  # a version trained before grades
        ours = dataclasses.replace(ours, scale=None)
    split = np.arange(len(X)) % 3 == 0
    for decided in (Decided.unsplit(ours, []), Decided.split(ours, theirs, [], split)):
        built = batch_prediction(decided)
        validated = BatchPrediction.model_validate(built.model_dump())
        assert ANSWER.dump_json(built) == ANSWER.dump_json(validated)
        assert built.count == len(X) == len(built.predictions)
