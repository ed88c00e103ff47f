"""The transformers a saved pipeline needs in order to load and predict.

They live here, beside the feature contract, because both sides import them: the training
command fits pipelines made of them and the service unpickles those pipelines. Keeping one
copy is what stops training and serving from drifting apart. They work on plain numpy
arrays whose columns follow `FEATURE_NAMES`, so a single-row prediction costs microseconds
rather than the milliseconds a per-request pandas DataFrame would.

Both follow scikit-learn's estimator conventions: parameters set in `__init__`, nothing
learnt in `fit` (the cleaning rules and feature formulas are fixed by the data's meaning),
no hidden state.
"""

from typing import Final

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from schemas.features import FEATURE_NAMES

# Column positions, shared with the ONNX converters of these transformers (train/).
COLUMN: Final = {name: index for index, name in enumerate(FEATURE_NAMES)}
REPAYMENT_STATUS_COLUMNS: Final = [COLUMN[f"pay_{m}"] for m in (0, 2, 3, 4, 5, 6)]
BILL_COLUMNS: Final = [COLUMN[f"bill_amt{m}"] for m in range(1, 7)]
PAYMENT_COLUMNS: Final = [COLUMN[f"pay_amt{m}"] for m in range(1, 7)]

# Engineered feature groups, each kept or dropped as a whole by the hyperparameter search
# (a group stays only if it raises cross-validated ROC AUC).
FEATURE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    # Bill as a share of the credit limit, per month (September .. April).
    "utilisation": tuple(f"utilisation_{m}" for m in range(1, 7)),
    # Payment in month m against the bill it settles, the previous month's statement.
    "payment_ratio": tuple(f"payment_ratio_{m}" for m in range(1, 6)),
    # How often and how badly the customer was late over the six months.
    "delinquency": ("months_late", "months_paid_duly", "worst_delay"),
    # Direction of travel: September minus April.
    "trend": ("delay_trend", "utilisation_trend"),
}


def _check_columns(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise ValueError(
            f"expected a 2-D array with {len(FEATURE_NAMES)} columns in FEATURE_NAMES order, "
            f"got shape {X.shape}"
        )
    return X


class CategoryCleaner(TransformerMixin, BaseEstimator):
    """Folds the data set's undocumented category codes into the documented "others".

    EDUCATION 0, 5 and 6 and MARRIAGE 0 occur in the data but the data set's authors never
    said what they mean; they are rare, so the model learns them together with the
    documented "others" code (EDUCATION 4, MARRIAGE 3). The API still accepts the raw
    codes: the mapping is part of the model, applied identically in training and serving.
    """

    EDUCATION_UNKNOWN: Final = (0, 5, 6)
    EDUCATION_OTHERS: Final = 4
    MARRIAGE_UNKNOWN: Final = (0,)
    MARRIAGE_OTHERS: Final = 3

    def __sklearn_is_fitted__(self) -> bool:
        return True  # nothing to learn: the rules are fixed by the data's documentation

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "CategoryCleaner":
        _check_columns(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = _check_columns(X).copy()
        education = X[:, COLUMN["education"]]
        education[np.isin(education, self.EDUCATION_UNKNOWN)] = self.EDUCATION_OTHERS
        marriage = X[:, COLUMN["marriage"]]
        marriage[np.isin(marriage, self.MARRIAGE_UNKNOWN)] = self.MARRIAGE_OTHERS
        return X

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """Appends the engineered feature groups named in `groups` to the 23 raw columns.

    Ratios whose denominator is not positive (a bill in credit, or nothing billed) are
    defined rather than left as inf/NaN: a payment against nothing owed counts as paid in
    full (ratio 1).
    """

    def __init__(self, groups: tuple[str, ...] = tuple(FEATURE_GROUPS)) -> None:
        self.groups = groups

    def __sklearn_is_fitted__(self) -> bool:
        return True  # nothing to learn: the formulas are fixed

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "FeatureEngineer":
        unknown = set(self.groups) - set(FEATURE_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown feature groups {sorted(unknown)}; known: {list(FEATURE_GROUPS)}"
            )
        _check_columns(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = _check_columns(X)
        limit = X[:, [COLUMN["limit_bal"]]]
        status = X[:, REPAYMENT_STATUS_COLUMNS]
        bills = X[:, BILL_COLUMNS]
        payments = X[:, PAYMENT_COLUMNS]
        utilisation = bills / limit

        blocks = [X]
        for group in self.groups:
            if group == "utilisation":
                blocks.append(utilisation)
            elif group == "payment_ratio":
                previous_bill = bills[:, 1:]
                owed = previous_bill > 0
                ratio = np.divide(
                    payments[:, :-1], previous_bill, out=np.ones_like(previous_bill), where=owed
                )
                blocks.append(ratio)
            elif group == "delinquency":
                blocks.append(
                    np.column_stack(
                        [
                            (status >= 1).sum(axis=1),
                            (status <= -1).sum(axis=1),
                            status.max(axis=1),
                        ]
                    )
                )
            elif group == "trend":
                blocks.append(
                    np.column_stack(
                        [status[:, 0] - status[:, -1], utilisation[:, 0] - utilisation[:, -1]]
                    )
                )
            else:  # pragma: no cover - fit() rejects unknown groups first
                raise ValueError(f"unknown feature group {group!r}")
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        names = list(FEATURE_NAMES)
        for group in self.groups:
            names.extend(FEATURE_GROUPS[group])
        return np.asarray(names, dtype=object)
