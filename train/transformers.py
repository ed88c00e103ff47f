"""The pipeline's own transformers: category cleaning and engineered features.

Each formula is written once, as a function of an `ArrayOps` backend: `NUMPY_OPS` here
computes it for scikit-learn, and the ONNX backend in `train.onnx_export` turns the same
function into graph nodes. So the compiled model cannot compute a feature differently from
the pipeline it was compiled from: there is no second copy to drift.

They work on plain float64 arrays whose columns follow `FEATURE_NAMES`, and follow
scikit-learn's estimator conventions: parameters set in `__init__`, nothing learnt in
`fit` (the cleaning rules and formulas are fixed by the data's meaning), no hidden state.
Only training imports them: the service scores the compiled graph and never unpickles.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from schemas.features import FEATURE_NAMES

Array = TypeVar("Array")

COLUMN: Final = {name: index for index, name in enumerate(FEATURE_NAMES)}
REPAYMENT_STATUS_COLUMNS: Final = [COLUMN[f"pay_{m}"] for m in (0, 2, 3, 4, 5, 6)]
BILL_COLUMNS: Final = [COLUMN[f"bill_amt{m}"] for m in range(1, 7)]
PAYMENT_COLUMNS: Final = [COLUMN[f"pay_amt{m}"] for m in range(1, 7)]


class ArrayOps(Protocol, Generic[Array]):
    """The operations the formulas use, on 2-D float64 arrays (rows x columns).

    Comparisons return masks; `where` picks per element; `count` and `row_max` reduce
    each row to one column; scalars are plain floats."""

    def columns(self, X: Array, indices: list[int]) -> Array: ...
    def div(self, a: Array, b: Array) -> Array: ...
    def sub(self, a: Array, b: Array) -> Array: ...
    def greater(self, a: Array, value: float) -> Array: ...
    def at_least(self, a: Array, value: float) -> Array: ...
    def at_most(self, a: Array, value: float) -> Array: ...
    def is_one_of(self, a: Array, values: tuple[float, ...]) -> Array: ...
    def where(self, mask: Array, a: Array | float, b: Array | float) -> Array: ...
    def count(self, mask: Array) -> Array: ...
    def row_max(self, a: Array) -> Array: ...
    def concat(self, blocks: list[Array]) -> Array: ...


class NumpyOps:
    """`ArrayOps` computed by numpy, in float64."""

    def columns(self, X: np.ndarray, indices: list[int]) -> np.ndarray:
        return X[:, indices]

    def div(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # masked out by `where`
            return a / b

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def greater(self, a: np.ndarray, value: float) -> np.ndarray:
        return a > value

    def at_least(self, a: np.ndarray, value: float) -> np.ndarray:
        return a >= value

    def at_most(self, a: np.ndarray, value: float) -> np.ndarray:
        return a <= value

    def is_one_of(self, a: np.ndarray, values: tuple[float, ...]) -> np.ndarray:
        return np.isin(a, values)

    def where(self, mask: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return np.where(mask, a, b).astype(np.float64)

    def count(self, mask: np.ndarray) -> np.ndarray:
        return mask.sum(axis=1, keepdims=True).astype(np.float64)

    def row_max(self, a: np.ndarray) -> np.ndarray:
        return a.max(axis=1, keepdims=True)

    def concat(self, blocks: list[np.ndarray]) -> np.ndarray:
        return np.hstack(blocks)


NUMPY_OPS: Final = NumpyOps()

# -- cleaning ---------------------------------------------------------------------------------

# EDUCATION 0, 5 and 6 and MARRIAGE 0 occur in the data, but the data set's authors never
# said what they mean; they are rare, so the model learns them with the documented "others".
EDUCATION_UNKNOWN: Final = (0.0, 5.0, 6.0)
EDUCATION_OTHERS: Final = 4.0
MARRIAGE_UNKNOWN: Final = (0.0,)
MARRIAGE_OTHERS: Final = 3.0


def clean_categories(ops: ArrayOps[Array], X: Array) -> Array:
    """X with the undocumented EDUCATION and MARRIAGE codes folded into "others"."""

    def fold(column: str, unknown: tuple[float, ...], others: float) -> Array:
        values = ops.columns(X, [COLUMN[column]])
        return ops.where(ops.is_one_of(values, unknown), others, values)

    return ops.concat(
        [
            ops.columns(X, list(range(COLUMN["education"]))),
            fold("education", EDUCATION_UNKNOWN, EDUCATION_OTHERS),
            fold("marriage", MARRIAGE_UNKNOWN, MARRIAGE_OTHERS),
            ops.columns(X, list(range(COLUMN["marriage"] + 1, len(FEATURE_NAMES)))),
        ]
    )


# -- engineered features -----------------------------------------------------------------------


def _utilisation(ops: ArrayOps[Array], X: Array) -> Array:
    """Bill as a share of the credit limit, per month (September .. April)."""
    return ops.div(ops.columns(X, BILL_COLUMNS), ops.columns(X, [COLUMN["limit_bal"]]))


def _payment_ratio(ops: ArrayOps[Array], X: Array) -> Array:
    """Payment in month m against the bill it settles, the previous month's statement. A
    payment against nothing owed (a bill in credit, or nothing billed) counts as paid in
    full (1), rather than inf or NaN."""
    previous_bill = ops.columns(X, BILL_COLUMNS[1:])
    paid = ops.columns(X, PAYMENT_COLUMNS[:-1])
    return ops.where(ops.greater(previous_bill, 0.0), ops.div(paid, previous_bill), 1.0)


def _delinquency(ops: ArrayOps[Array], X: Array) -> Array:
    """How often and how badly the customer was late over the six months."""
    status = ops.columns(X, REPAYMENT_STATUS_COLUMNS)
    return ops.concat(
        [
            ops.count(ops.at_least(status, 1.0)),
            ops.count(ops.at_most(status, -1.0)),
            ops.row_max(status),
        ]
    )


def _delay_split(ops: ArrayOps[Array], X: Array) -> Array:
    """Each repayment status as two columns: months late, max(status, 0), which grows by
    one with every month later (0 revolving -> 1, k -> k + 1); and the state, min(status,
    0): -2 no consumption, -1 paid in full, 0 otherwise. The codes -2, -1 and 0 are states,
    not amounts of delay, so only the first column is held to rise with the risk."""
    status = ops.columns(X, REPAYMENT_STATUS_COLUMNS)
    late = ops.greater(status, 0.0)
    return ops.concat([ops.where(late, status, 0.0), ops.where(late, 0.0, status)])


def _trend(ops: ArrayOps[Array], X: Array) -> Array:
    """Direction of travel, September minus April: of the delay and of utilisation."""
    first, last = REPAYMENT_STATUS_COLUMNS[0], REPAYMENT_STATUS_COLUMNS[-1]
    utilisation = _utilisation(ops, X)
    return ops.concat(
        [
            ops.sub(ops.columns(X, [first]), ops.columns(X, [last])),
            ops.sub(ops.columns(utilisation, [0]), ops.columns(utilisation, [5])),
        ]
    )


@dataclass(frozen=True)
class FeatureGroup:
    """Engineered columns kept or dropped together by the hyperparameter search."""

    names: tuple[str, ...]
    formula: Callable[[ArrayOps, object], object]


FEATURE_GROUPS: Final[dict[str, FeatureGroup]] = {
    "utilisation": FeatureGroup(tuple(f"utilisation_{m}" for m in range(1, 7)), _utilisation),
    "payment_ratio": FeatureGroup(tuple(f"payment_ratio_{m}" for m in range(1, 6)), _payment_ratio),
    "delinquency": FeatureGroup(("months_late", "months_paid_duly", "worst_delay"), _delinquency),
    "trend": FeatureGroup(("delay_trend", "utilisation_trend"), _trend),
}
# Not a candidate of the search: how a model monotone in delay sees the statuses.
DELAY_SPLIT: Final = FeatureGroup(
    (
        *(f"pay_{m}_late" for m in (0, 2, 3, 4, 5, 6)),
        *(f"pay_{m}_state" for m in (0, 2, 3, 4, 5, 6)),
    ),
    _delay_split,
)
ALL_GROUPS: Final[dict[str, FeatureGroup]] = {**FEATURE_GROUPS, "delay_split": DELAY_SPLIT}

REPAYMENT_STATUSES: Final = tuple(f"pay_{m}" for m in (0, 2, 3, 4, 5, 6))

# Monotone in delay: a model held to never lower the risk when a repayment status moves one
# month later (0 -> 1, k -> k + 1) sees each status only through DELAY_SPLIT, forced to
# rise in months late; the count of late months and the longest delay, which can only grow
# with such a move, are forced to rise too. The states and the months paid duly do not
# change with such a move, so they stay free. Anything else derived from the statuses
# (the raw codes, delay_trend, which falls as April's status rises) is left out.
INCREASING_IN_DELAY: Final = frozenset(
    {*(f"pay_{m}_late" for m in (0, 2, 3, 4, 5, 6)), "months_late", "worst_delay"}
)
UNCHANGED_BY_DELAY: Final = frozenset(
    {*(f"pay_{m}_state" for m in (0, 2, 3, 4, 5, 6)), "months_paid_duly"}
)
DEPENDS_ON_DELAY: Final = frozenset(
    {*REPAYMENT_STATUSES, "delay_trend", *INCREASING_IN_DELAY, *UNCHANGED_BY_DELAY}
)


def monotone_inputs(groups: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The groups and the left-out columns of a model monotone in delay, from the
    recorded groups: the statuses split, and the raw statuses and delay_trend left out."""
    kept = tuple(group for group in groups if group != "delay_split")
    return (*kept, "delay_split"), (*REPAYMENT_STATUSES, "delay_trend")


def monotonic_constraints(model_inputs: list[str]) -> list[int]:
    """scikit-learn's `monotonic_cst` for these model inputs (+1: the risk may only rise
    with it; 0: free). Refuses an input derived from the statuses that is neither."""
    unsafe = [
        name
        for name in model_inputs
        if name in DEPENDS_ON_DELAY and name not in INCREASING_IN_DELAY | UNCHANGED_BY_DELAY
    ]
    if unsafe:
        raise ValueError(f"inputs that could let more delay lower the risk: {unsafe}")
    return [1 if name in INCREASING_IN_DELAY else 0 for name in model_inputs]


# Sex, marital status and age: required and validated by the API (fairness monitoring
# needs them) but left out of the default model; leaving them out cost nothing measurable.
PROTECTED_ATTRIBUTES: Final = ("sex", "marriage", "age")


def engineer_features(
    ops: ArrayOps[Array], X: Array, groups: tuple[str, ...], excluded: tuple[str, ...] = ()
) -> Array:
    """The raw columns of X, then the columns of each named group, in order; any column,
    raw or engineered, named in `excluded` left out."""
    kept = [COLUMN[name] for name in FEATURE_NAMES if name not in excluded]
    raw = X if len(kept) == len(FEATURE_NAMES) else ops.columns(X, kept)
    blocks = [raw]
    for group in groups:
        block = ALL_GROUPS[group].formula(ops, X)
        names = ALL_GROUPS[group].names
        wanted = [i for i, name in enumerate(names) if name not in excluded]
        blocks.append(block if len(wanted) == len(names) else ops.columns(block, wanted))
    return ops.concat(blocks)


# -- scikit-learn transformers ----------------------------------------------------------------


def _check_columns(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise ValueError(
            f"expected a 2-D array with {len(FEATURE_NAMES)} columns in FEATURE_NAMES order, "
            f"got shape {X.shape}"
        )
    return X


class CategoryCleaner(TransformerMixin, BaseEstimator):
    """Folds the data set's undocumented category codes into the documented "others"
    (`clean_categories`). The API still accepts the raw codes: the mapping is part of the
    model, applied identically in training and in the compiled graph."""

    def __sklearn_is_fitted__(self) -> bool:
        return True  # nothing to learn: the rules are fixed by the data's documentation

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "CategoryCleaner":
        _check_columns(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return clean_categories(NUMPY_OPS, _check_columns(X))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """The raw columns but `excluded` (left out of the model, e.g. protected attributes),
    followed by the engineered feature groups named in `groups`."""

    def __init__(
        self, groups: tuple[str, ...] = tuple(FEATURE_GROUPS), excluded: tuple[str, ...] = ()
    ) -> None:
        self.groups = groups
        self.excluded = excluded

    def __sklearn_is_fitted__(self) -> bool:
        return True  # nothing to learn: the formulas are fixed

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "FeatureEngineer":
        unknown = set(self.groups) - set(ALL_GROUPS)
        if unknown:
            raise ValueError(f"unknown feature groups {sorted(unknown)}; known: {list(ALL_GROUPS)}")
        engineered = {name for group in self.groups for name in ALL_GROUPS[group].names}
        unknown_columns = set(self.excluded) - set(FEATURE_NAMES) - engineered
        if unknown_columns:
            raise ValueError(f"cannot exclude unknown columns {sorted(unknown_columns)}")
        _check_columns(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return engineer_features(
            NUMPY_OPS, _check_columns(X), tuple(self.groups), tuple(self.excluded)
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        names = [name for name in FEATURE_NAMES if name not in self.excluded]
        for group in self.groups:
            names.extend(name for name in ALL_GROUPS[group].names if name not in self.excluded)
        return np.asarray(names, dtype=object)
