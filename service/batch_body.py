"""The `/predict/batch` body, read as one matrix of customers.

A 10,000-customer batch read as 10,000 pydantic models costs about 50 ms of pydantic-core
and 10,000 objects that the scoring call turns straight back into a matrix. This reader
parses the JSON once (pydantic-core's own parser, so every number has the same bits) and
checks the contract's rules column by column (`schemas.columns`, read from the model's
JSON schema). It only ever accepts: a body it cannot prove valid in every respect (its
shape, each key, each value's JSON type, each rule, no repeated key) goes to the strict
reader (`service.body.validated`), which accepts what the model accepts and names every
broken rule. So both give the same customers, bit for bit, and the same errors.
"""

import itertools
import operator
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from fastapi import Request
from pydantic_core import from_json

from schemas.api import MAX_BATCH_SIZE, SUBJECT_ID_PATTERN, BatchRequest
from schemas.columns import hold_as_integers, rows_meeting_rules
from schemas.features import FEATURE_NAMES, feature_matrix
from service.body import json_bytes, validated

_BODY_KEYS: Final = frozenset(BatchRequest.model_fields)
_FEATURES: Final = operator.itemgetter(*FEATURE_NAMES)
_NUMBERS: Final = frozenset({int, float})  # JSON numbers; bool is neither
_SUBJECT_ID: Final = re.compile(SUBJECT_ID_PATTERN)


@dataclass(frozen=True)
class CustomerBatch:
    """A checked batch: every customer valid, as the scoring call takes them."""

    rows: np.ndarray  # customers x 23, float64, FEATURE_NAMES order
    subject_ids: list[str] | None


async def read_batch(request: Request) -> CustomerBatch:
    """A FastAPI dependency: the request's body as a checked `CustomerBatch`."""
    body = await json_bytes(request)
    batch = _read_columns(body)
    if batch is None:  # not proven valid: the strict reader decides, and names any error
        checked = validated(BatchRequest, body)
        batch = CustomerBatch(feature_matrix(checked.customers), checked.subject_ids)
    return batch


def _read_columns(body: bytes) -> CustomerBatch | None:
    """The batch when `body` is valid by every rule, else None."""
    try:
        parsed = from_json(body)
    except ValueError:
        return None
    if type(parsed) is not dict or not parsed.keys() <= _BODY_KEYS:
        return None
    customers, subject_ids = parsed.get("customers"), parsed.get("subject_ids")
    if type(customers) is not list or not 1 <= len(customers) <= MAX_BATCH_SIZE:
        return None
    if subject_ids is not None and not _valid_subject_ids(subject_ids, len(customers)):
        return None
    try:  # each customer an object holding every feature (an array or text raises)
        values = list(itertools.chain.from_iterable(map(_FEATURES, customers)))
    except (KeyError, TypeError):
        return None
    width = len(FEATURE_NAMES)
    if any(len(customer) != width for customer in customers):  # any key but the features
        return None
    if not set(map(type, values)) <= _NUMBERS:
        return None
    try:
        X = np.fromiter(values, dtype=np.float64, count=len(values)).reshape(-1, width)
    except OverflowError:  # an integer beyond float64: outside every range anyway
        return None
    if not rows_meeting_rules(X).all():
        return None
    # No key repeated: each key read, and each subject id, is one pair of quotes, and no
    # other string was accepted, so any further quote belongs to a key read twice (or an
    # escaped quote): then the strict reader looks.
    keys = len(parsed) + width * len(customers) + len(subject_ids or ())
    if body.count(b'"') != 2 * keys:
        return None
    hold_as_integers(X)
    return CustomerBatch(X, subject_ids)


def _valid_subject_ids(subject_ids: Any, count: int) -> bool:
    return (
        type(subject_ids) is list
        and len(subject_ids) == count
        and all(type(s) is str and _SUBJECT_ID.fullmatch(s) for s in subject_ids)
    )
