"""Every rule of the customer contract, valid and invalid, including property-based checks."""

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES, BatchRequest, CustomerFeatures
from schemas.features import MAX_AMOUNT, feature_matrix

PAY_STATUS = [f"pay_{m}" for m in (0, 2, 3, 4, 5, 6)]
BILLS = [f"bill_amt{m}" for m in range(1, 7)]
PAYMENTS = [f"pay_amt{m}" for m in range(1, 7)]


def customer(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE_CUSTOMER, **changes}


def errors_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        CustomerFeatures.model_validate(body)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


def test_field_names_follow_the_dataset_columns_in_order() -> None:
    assert (
        "limit_bal", "sex", "education", "marriage", "age",
        *PAY_STATUS, *BILLS, *PAYMENTS,
    ) == FEATURE_NAMES  # fmt: skip


def test_the_documented_example_is_valid_and_keeps_its_values() -> None:
    parsed = CustomerFeatures.model_validate(EXAMPLE_CUSTOMER)
    assert parsed.as_row() == [EXAMPLE_CUSTOMER[name] for name in FEATURE_NAMES]


def test_every_field_is_documented_with_a_description_and_example() -> None:
    properties = CustomerFeatures.model_json_schema()["properties"]
    for name in FEATURE_NAMES:
        assert properties[name]["description"], name
        assert properties[name]["examples"], name
    assert "April 2005" in properties["pay_6"]["description"]
    assert "NT dollars" in properties["bill_amt1"]["description"]
    assert "paid in full" in properties["pay_0"]["description"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit_bal", 0.01),
        ("limit_bal", MAX_AMOUNT),
        ("sex", 1),
        ("sex", 2),
        ("education", 0),
        ("education", 6),
        ("marriage", 0),
        ("marriage", 3),
        ("age", 18),
        ("age", 120),
        *((name, -2) for name in PAY_STATUS),
        *((name, 9) for name in PAY_STATUS),
        *((name, -MAX_AMOUNT) for name in BILLS),
        *((name, MAX_AMOUNT) for name in BILLS),
        ("bill_amt3", -123.45),
        *((name, 0) for name in PAYMENTS),
        ("pay_amt2", 0.5),
        ("bill_amt1", -0.0),
        ("sex", 1.0),  # JSON and JSON Schema do not tell 1.0 from 1
        ("age", 35.0),
        ("pay_0", -2.0),
    ],
)
def test_boundary_values_are_accepted(field: str, value: float) -> None:
    assert getattr(CustomerFeatures.model_validate(customer(**{field: value})), field) == value


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("limit_bal", 0, "greater_than"),
        ("limit_bal", -5000, "greater_than"),
        ("limit_bal", MAX_AMOUNT + 1, "less_than_equal"),
        ("sex", 0, "greater_than_equal"),
        ("sex", 3, "less_than_equal"),
        ("sex", 1.5, "int_type"),
        ("education", -1, "greater_than_equal"),
        ("education", 7, "less_than_equal"),
        ("marriage", 4, "less_than_equal"),
        ("age", 17, "greater_than_equal"),
        ("age", 121, "less_than_equal"),
        ("age", 30.5, "int_type"),
        ("age", "30", "int_type"),
        ("age", True, "int_type"),
        ("age", None, "int_type"),
        *((name, -3, "greater_than_equal") for name in PAY_STATUS),
        *((name, 10, "less_than_equal") for name in PAY_STATUS),
        ("pay_0", 1.5, "int_type"),
        *((name, -MAX_AMOUNT - 1, "greater_than_equal") for name in BILLS),
        *((name, MAX_AMOUNT * 2, "less_than_equal") for name in BILLS),
        *((name, -1, "greater_than_equal") for name in PAYMENTS),
        ("pay_amt1", MAX_AMOUNT + 1, "less_than_equal"),
        ("limit_bal", "50000", "float_type"),
        ("limit_bal", True, "float_type"),
        ("bill_amt1", False, "float_type"),
        ("limit_bal", math.nan, "finite_number"),
        ("bill_amt1", math.inf, "finite_number"),
        ("bill_amt1", -math.inf, "finite_number"),
        ("pay_amt1", math.nan, "finite_number"),
        ("limit_bal", 10**400, "float_type"),
        ("limit_bal", [50000], "float_type"),
        ("sex", {"code": 1}, "int_type"),
    ],
)
def test_rule_breaks_are_rejected_with_the_field_and_rule(
    field: str, value: Any, rule: str
) -> None:
    assert errors_of(customer(**{field: value})) == [(field, rule)]


@pytest.mark.parametrize("field", FEATURE_NAMES)
def test_every_field_is_required(field: str) -> None:
    body = customer()
    del body[field]
    assert errors_of(body) == [(field, "missing")]


@pytest.mark.parametrize("typo", ["limit_ball", "LIMIT_BAL", "id", "default"])
def test_unknown_keys_are_rejected_not_ignored(typo: str) -> None:
    assert errors_of(customer(**{typo: 1})) == [(typo, "extra_forbidden")]


def test_every_broken_field_is_reported_at_once() -> None:
    found = dict(errors_of(customer(age=5, sex=9, limit_bal=math.nan)))
    assert found == {
        "age": "greater_than_equal",
        "sex": "less_than_equal",
        "limit_bal": "finite_number",
    }


def test_batch_reports_the_index_of_the_bad_item() -> None:
    with pytest.raises(ValidationError) as caught:
        BatchRequest.model_validate({"customers": [customer(), customer(age=200)]})
    assert [e["loc"] for e in caught.value.errors()] == [("customers", 1, "age")]


@pytest.mark.parametrize(("size", "ok"), [(0, False), (1, True), (10_000, True), (10_001, False)])
def test_batch_size_limits(size: int, ok: bool) -> None:
    body = {"customers": [EXAMPLE_CUSTOMER] * size}
    if ok:
        assert len(BatchRequest.model_validate(body).customers) == size
    else:
        with pytest.raises(ValidationError):
            BatchRequest.model_validate(body)


amounts = st.floats(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, allow_nan=False)
valid_customers = st.fixed_dictionaries(
    {
        "limit_bal": st.floats(min_value=1e-6, max_value=MAX_AMOUNT, allow_nan=False),
        "sex": st.integers(1, 2),
        "education": st.integers(0, 6),
        "marriage": st.integers(0, 3),
        "age": st.integers(18, 120),
        **{name: st.integers(-2, 9) for name in PAY_STATUS},
        **{name: amounts | st.integers(-(10**9), 10**9) for name in BILLS},
        **{name: st.floats(min_value=0, max_value=MAX_AMOUNT) for name in PAYMENTS},
    }
)


@settings(max_examples=300, deadline=None)
@given(valid_customers)
def test_any_customer_within_the_rules_is_accepted_unchanged(body: dict[str, Any]) -> None:
    parsed = CustomerFeatures.model_validate(body)
    assert parsed.as_row() == [body[name] for name in FEATURE_NAMES]


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["age", "sex", "education", "marriage", *PAY_STATUS]), value=st.integers()
)
def test_integer_codes_are_accepted_exactly_inside_their_range(field: str, value: int) -> None:
    bounds = CustomerFeatures.model_json_schema()["properties"][field]
    inside = bounds["minimum"] <= value <= bounds["maximum"]
    if inside:
        assert getattr(CustomerFeatures.model_validate(customer(**{field: value})), field) == value
    else:
        with pytest.raises(ValidationError) as caught:
            CustomerFeatures.model_validate(customer(**{field: value}))
        assert {e["loc"] for e in caught.value.errors()} == {(field,)}


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(), st.booleans(), st.none(), st.lists(st.integers()), st.floats()))
def test_non_numbers_and_non_finite_values_never_pass_as_amounts(value: Any) -> None:
    finite_number = (
        isinstance(value, float) and math.isfinite(value) and -MAX_AMOUNT <= value <= MAX_AMOUNT
    )
    try:
        CustomerFeatures.model_validate(customer(bill_amt1=value))
    except ValidationError:
        assert not finite_number
    else:
        assert finite_number


@settings(max_examples=50, deadline=None)
@given(st.lists(valid_customers, min_size=1, max_size=20))
def test_feature_matrix_matches_each_customers_row(bodies: list[dict[str, Any]]) -> None:
    customers = [CustomerFeatures.model_validate(body) for body in bodies]
    matrix = feature_matrix(customers)
    assert matrix.shape == (len(bodies), len(FEATURE_NAMES))
    assert matrix.tolist() == [[float(body[name]) for name in FEATURE_NAMES] for body in bodies]
