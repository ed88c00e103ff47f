"""The customer contract's rules applied to whole columns of numbers at once.

Checking 10,000 customers one pydantic model at a time costs tens of milliseconds; the
same rules as numpy comparisons over each column cost a fraction of one. The rules are
not restated here: they are read from `CustomerFeatures`' JSON schema (type, minimum,
exclusive minimum, maximum), so a column check cannot drift from the model. Every
caller hands whatever fails these checks to `CustomerFeatures` itself for the
authoritative message: a value is accepted exactly when the model would accept it.
"""

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pydantic import AfterValidator, BeforeValidator, PlainValidator, WrapValidator

from schemas.features import FEATURE_NAMES, WHOLE_NUMBER, CustomerFeatures

# What a property of the JSON schema may hold: words, and the rules checked here.
_DOCUMENTARY: Final = frozenset({"type", "title", "description", "examples"})
_CHECKED: Final = frozenset({"minimum", "exclusiveMinimum", "maximum"})


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """One feature's rules, as its JSON schema states them."""

    whole: bool  # an integer field: whole numbers only (2 and 2.0 alike)
    minimum: float | None
    exclusive_minimum: float | None
    maximum: float | None

    @classmethod
    def of(cls, schema: dict[str, Any]) -> "ColumnRule":
        """The rule of one property of the JSON schema; TypeError for a property with a
        rule this module does not check, so a new kind of rule cannot go unchecked."""
        rules = {key for key in schema if key not in _DOCUMENTARY and not key.startswith("x-")}
        if schema.get("type") not in ("integer", "number") or rules - _CHECKED:
            raise TypeError(f"rules that columns do not check: {schema}")
        return cls(
            whole=schema["type"] == "integer",
            minimum=schema.get("minimum"),
            exclusive_minimum=schema.get("exclusiveMinimum"),
            maximum=schema.get("maximum"),
        )


_PROPERTIES: Final = CustomerFeatures.model_json_schema()["properties"]
RULES: Final[dict[str, ColumnRule]] = {
    name: ColumnRule.of(_PROPERTIES[name]) for name in FEATURE_NAMES
}


_VALIDATORS: Final = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)


def schema_states_every_rule(model: type[CustomerFeatures]) -> None:
    """The JSON schema is all the model checks only while it has no validator of its own
    beyond WHOLE_NUMBER on each integer field (which the schema does not show: 2.0 is
    accepted as 2); a model that gains one must gain its column check here too."""
    decorators = model.__pydantic_decorators__
    own = (decorators.validators, decorators.field_validators, decorators.root_validators)
    if any(own) or decorators.model_validators:
        raise TypeError(f"{model.__name__} has validators that the column checks do not apply")
    for name in FEATURE_NAMES:
        metadata = model.model_fields[name].metadata
        validators = [m for m in metadata if isinstance(m, _VALIDATORS)]
        if validators != ([WHOLE_NUMBER] if RULES[name].whole else []):
            raise TypeError(f"{name} has validators that the column checks do not apply")


schema_states_every_rule(CustomerFeatures)


def _bound(key: str, missing: float) -> np.ndarray:
    """One bound of every column, `missing` where a feature has none."""
    values = [getattr(RULES[name], key) for name in FEATURE_NAMES]
    return np.array([missing if v is None else v for v in values], dtype=np.float64)


# The rules as one row each, over FEATURE_NAMES columns: a whole matrix in a few passes.
_WHOLE: Final = np.array([RULES[name].whole for name in FEATURE_NAMES])
_MINIMUM: Final = _bound("minimum", -np.inf)
_EXCLUSIVE_MINIMUM: Final = _bound("exclusive_minimum", -np.inf)
_MAXIMUM: Final = _bound("maximum", np.inf)


def rows_meeting_rules(X: np.ndarray) -> np.ndarray:
    """Whether each row of a float64 matrix (FEATURE_NAMES columns) meets every rule.
    NaN and infinities never do: every bound is finite on one side at least, and a whole
    number is finite."""
    with np.errstate(invalid="ignore"):
        ok = (X >= _MINIMUM) & (X > _EXCLUSIVE_MINIMUM) & (X <= _MAXIMUM) & np.isfinite(X)
        whole = X[:, _WHOLE]
        ok[:, _WHOLE] &= np.floor(whole) == whole
    return ok.all(axis=1)


def normalise_integer_zeros(X: np.ndarray) -> None:
    """Give a checked matrix's integer fields the values `CustomerFeatures` holds, in
    place: the model turns 2.0 into 2 and -0.0 into 0, so -0.0 becomes +0.0 here and
    every reader scores the same bits."""
    X[:, _WHOLE] += 0.0  # -0.0 + 0.0 is +0.0; every other whole number is unchanged
