"""The batch reader by columns against the strict reader: it accepts only what the strict
reader accepts, with the same values bit for bit, and every body a bank would send."""

import json
from typing import Annotated

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, field_validator

from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES, BatchRequest
from schemas.columns import RULES, ColumnRule, rows_meeting_rules, schema_states_every_rule
from schemas.features import MAX_AMOUNT, CustomerFeatures, feature_matrix
from service.batch_body import CustomerBatch, _read_proven
from service.body import validated
from service.errors import ServiceError


def strict(body: bytes) -> CustomerBatch | None:
    """What the strict reader makes of `body`, None when it refuses it."""
    try:
        checked = validated(BatchRequest, body)
    except ServiceError:
        return None
    return CustomerBatch(feature_matrix(checked.customers), checked.subject_ids)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def bounds(name: str) -> tuple[float, float]:
    rule = RULES[name]
    low = rule.minimum if rule.minimum is not None else rule.exclusive_minimum
    return float(low), float(rule.maximum)


def valid_text(name: str) -> st.SearchStrategy[str]:
    """Every way the contract lets a bank write the field, as JSON text: ints, whole
    floats (2.0, -0.0, 2E0) for integer fields, any float in range for amounts, the bounds
    themselves, and decimals with more digits than a double holds (each parser must round
    them to the same double)."""
    low, high = bounds(name)
    if RULES[name].whole:
        ints = st.integers(int(low), int(high))
        return st.one_of(
            ints.map(json.dumps),
            ints.map(lambda i: json.dumps(float(i))),
            ints.map(lambda i: f"{i}E0"),
            st.just("-0.0") if low <= 0 <= high else ints.map(json.dumps),
        )
    exclusive = RULES[name].exclusive_minimum is not None
    long_decimals = st.tuples(
        st.integers(int(low) + 1, int(high) - 1), st.text("0123456789", min_size=18, max_size=30)
    ).map(lambda parts: f"{parts[0]}.{parts[1]}")
    return st.one_of(
        st.floats(low, high, exclude_min=exclusive, allow_nan=False).map(json.dumps),
        st.integers(int(low) + exclusive, int(high)).map(json.dumps),
        st.sampled_from([high, *([] if exclusive else [low])]).map(json.dumps),
        long_decimals,
    )


# Text that breaks a rule or the JSON types, as a raw JSON value.
WRONG_VALUES = st.sampled_from(
    [
        "1.5", "true", "false", "null", '"2"', "[]", "{}", "NaN", "Infinity", "-Infinity",
        "1e400", str(10**400), str(int(MAX_AMOUNT) + 1), "-3", "121", "17", "0", "10",
        "1000000000.0000002", "-1000000001", "1e9", "2.0000000000000001", "-0.0",
    ]
)  # fmt: skip


@st.composite
def customers(draw: st.DrawFn, valid: bool) -> str:
    """One customer as JSON text: valid, or (usually) broken in a few ways, including keys
    missing, unknown or repeated."""
    pairs = [(name, draw(valid_text(name))) for name in FEATURE_NAMES]
    if not valid:
        for _ in range(draw(st.integers(0, 3))):
            k = draw(st.integers(0, len(pairs) - 1))
            change = draw(st.sampled_from(["value", "drop", "extra", "repeat"]))
            if change == "value":
                pairs[k] = (pairs[k][0], draw(WRONG_VALUES))
            elif change == "drop":
                del pairs[k]
            elif change == "extra":
                pairs.append(("limit_ball", "1"))
            else:
                pairs.append((pairs[k][0], pairs[k][1]))
    pairs = draw(st.permutations(pairs))
    return "{" + ", ".join(f'"{key}": {value}' for key, value in pairs) + "}"


@st.composite
def batches(draw: st.DrawFn, valid: bool) -> bytes:
    people = draw(st.lists(customers(valid), min_size=1, max_size=4))
    body = '{"customers": [' + ", ".join(people) + "]"
    ids = draw(st.sampled_from(["none", "null", "good", "bad"] if not valid else ["none", "good"]))
    if ids == "null":
        body += ', "subject_ids": null'
    elif ids == "good":
        body += ', "subject_ids": ' + json.dumps([f"acct-{k}:x.y_Z" for k in range(len(people))])
    elif ids == "bad":
        body += ', "subject_ids": ' + draw(
            st.sampled_from(
                ['["a"]', "[]", '["has space", "b", "c", "d"]', "[1]", '"a"', '["a\\n"]']
            )
        )
    return (body + "}").encode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(valid=False))
def test_the_column_reader_accepts_nothing_the_strict_reader_refuses(body: bytes) -> None:
    fast, reference = _read_proven(body), strict(body)
    if fast is not None:
        assert reference is not None, body
        assert same_bits(fast.rows, reference.rows)
        assert fast.subject_ids == reference.subject_ids


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(valid=True))
def test_the_column_reader_reads_every_valid_batch_as_the_strict_reader_does(body: bytes) -> None:
    fast, reference = _read_proven(body), strict(body)
    assert reference is not None
    assert fast is not None, body
    assert same_bits(fast.rows, reference.rows)
    assert fast.subject_ids == reference.subject_ids


def test_a_repeated_key_however_written_leaves_the_decision_to_the_strict_reader() -> None:
    """msgspec keeps the last of a repeated key; only the quote count sees the first."""
    one = json.dumps(EXAMPLE_CUSTOMER)
    bodies = [
        f'{{"customers": [{one}, {one[:-1]}, "age": 30}}]}}',
        f'{{"customers": [{one}, {one[:-1]}, "\\u0061ge": 30}}]}}',  # "age", escaped
        f'{{"subject_ids": null, "customers": [{one}], "subject_ids": null}}',
    ]
    for body in (text.encode() for text in bodies):
        assert _read_proven(body) is None, body
        assert strict(body) is None, body


def test_the_rules_are_the_schemas_and_an_unchecked_rule_is_refused() -> None:
    assert RULES["age"] == ColumnRule(whole=True, minimum=18, exclusive_minimum=None, maximum=120)
    assert RULES["limit_bal"].exclusive_minimum == 0
    with pytest.raises(TypeError, match="multipleOf"):
        ColumnRule.of({"type": "number", "minimum": 0, "multipleOf": 5})
    row = np.array([[EXAMPLE_CUSTOMER[name] for name in FEATURE_NAMES]], dtype=np.float64)
    assert rows_meeting_rules(row).tolist() == [True]
    for column, value in ((0, 0.0), (4, 17.0), (4, 35.5), (11, np.nan), (17, -1.0)):
        broken = row.copy()
        broken[0, column] = value
        assert rows_meeting_rules(broken).tolist() == [False], (column, value)


def test_a_validator_the_column_checks_do_not_apply_is_refused() -> None:
    """The column reader relies on the schema stating every rule the model checks."""
    schema_states_every_rule(CustomerFeatures)

    class WithOwnRule(CustomerFeatures):
        @field_validator("age")
        @classmethod
        def _under_100(cls, age: int) -> int:
            return age

    with pytest.raises(TypeError, match="WithOwnRule has validators"):
        schema_states_every_rule(WithOwnRule)

    class WithoutWholeNumbers(CustomerFeatures):
        age: Annotated[int, Field(ge=18, le=120)]

    with pytest.raises(TypeError, match="age has validators"):
        schema_states_every_rule(WithoutWholeNumbers)
