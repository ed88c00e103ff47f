"""The `/predict/batch` body, read as one matrix of customers.

A 10,000-customer batch read as 10,000 pydantic models costs about 50 ms of pydantic-core
and 10,000 objects that the scoring call turns straight back into a matrix. This reader
decodes the JSON with msgspec into plain structs of numbers (its typed decoder refuses
unknown and missing keys, strings, booleans and nulls as it parses, and builds no dicts:
a 10,000-customer body in about a third of the time of parsing it to Python objects),
then checks the contract's rules column by column (`schemas.columns`, read from the
model's JSON schema). It only ever accepts: a body it cannot prove valid in every
respect (its shape, each key, each value's type, each rule, no repeated key) goes to the
strict reader (`service.body.validated`), which accepts what the model accepts and names
every broken rule. So both give the same customers, bit for bit (property-tested: both
parsers round every number correctly), and the same errors.
"""

import itertools
import operator
import re
from dataclasses import dataclass
from typing import Final

import msgspec
import numpy as np
from fastapi import Request

from schemas.api import MAX_BATCH_SIZE, SUBJECT_ID_PATTERN, BatchRequest
from schemas.columns import normalise_integer_zeros, rows_meeting_rules
from schemas.features import FEATURE_NAMES, feature_matrix
from service.body import json_bytes, validated

# The body's shape for msgspec: every feature a required number (an integer field's
# whole-number rule is checked with the others, on the matrix), nothing else allowed.
_Customer = msgspec.defstruct(
    "_Customer", [(name, float) for name in FEATURE_NAMES], forbid_unknown_fields=True
)
_Body = msgspec.defstruct(
    "_Body",
    [
        ("customers", list[_Customer]),
        # UNSET when absent, None when sent as null: the key was read either way.
        ("subject_ids", list[str] | None | msgspec.UnsetType, msgspec.UNSET),
    ],
    forbid_unknown_fields=True,
)
if set(_Body.__struct_fields__) != set(BatchRequest.model_fields):
    raise TypeError("the batch reader's shape no longer matches BatchRequest")
_DECODE: Final = msgspec.json.Decoder(_Body).decode
_FEATURES: Final = operator.attrgetter(*FEATURE_NAMES)
_SUBJECT_ID: Final = re.compile(SUBJECT_ID_PATTERN)


@dataclass(frozen=True)
class CustomerBatch:
    """A checked batch: every customer valid, as the scoring call takes them."""

    rows: np.ndarray  # customers x 23, float64, FEATURE_NAMES order
    subject_ids: list[str] | None


async def read_batch(request: Request) -> CustomerBatch:
    """A FastAPI dependency: the request's body as a checked `CustomerBatch`."""
    body = await json_bytes(request)
    batch = _read_proven(body)
    if batch is None:  # not proven valid: the strict reader decides, and names any error
        checked = validated(BatchRequest, body)
        batch = CustomerBatch(feature_matrix(checked.customers), checked.subject_ids)
    return batch


def _read_proven(body: bytes) -> CustomerBatch | None:
    """The batch when `body` is valid by every rule, else None."""
    try:
        parsed = _DECODE(body)
    except msgspec.DecodeError:  # not JSON, or not the shape (unknown key, text, null...)
        return None
    customers, subject_ids = parsed.customers, parsed.subject_ids
    if not 1 <= len(customers) <= MAX_BATCH_SIZE:
        return None
    sent_ids = subject_ids is not msgspec.UNSET
    if not sent_ids:
        subject_ids = None
    if subject_ids is not None and not _valid_subject_ids(subject_ids, len(customers)):
        return None
    width = len(FEATURE_NAMES)
    values = itertools.chain.from_iterable(map(_FEATURES, customers))
    X = np.fromiter(values, dtype=np.float64, count=width * len(customers)).reshape(-1, width)
    if not rows_meeting_rules(X).all():
        return None
    # No key repeated: each key read, and each subject id, is one pair of quotes, and no
    # other string was accepted, so any further quote belongs to a key read twice (or an
    # escaped quote): then the strict reader looks.
    keys = 1 + int(sent_ids) + width * len(customers) + len(subject_ids or ())
    if body.count(b'"') != 2 * keys:
        return None
    normalise_integer_zeros(X)
    return CustomerBatch(X, subject_ids)


def _valid_subject_ids(subject_ids: list[str], count: int) -> bool:
    """One id per customer, each matching the contract's pattern."""
    return len(subject_ids) == count and all(_SUBJECT_ID.fullmatch(s) for s in subject_ids)
