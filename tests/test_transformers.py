"""The cleaning and feature transformers the saved pipelines are made of."""

import numpy as np
import pytest
from sklearn.base import clone

from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES
from train.transformers import FEATURE_GROUPS, CategoryCleaner, FeatureEngineer

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def rows(*changes: dict[str, float]) -> np.ndarray:
    return np.array(
        [[{**EXAMPLE_CUSTOMER, **c}[n] for n in FEATURE_NAMES] for c in changes], dtype=float
    )


@pytest.mark.parametrize(
    ("education", "marriage", "education_after", "marriage_after"),
    [
        (0, 0, 4, 3),
        (5, 1, 4, 1),
        (6, 2, 4, 2),
        (1, 3, 1, 3),
        (2, 1, 2, 1),
        (3, 2, 3, 2),
        (4, 0, 4, 3),
    ],
)
def test_cleaning_folds_undocumented_codes_into_others(
    education: int, marriage: int, education_after: int, marriage_after: int
) -> None:
    X = rows({"education": education, "marriage": marriage})
    cleaned = CategoryCleaner().fit(X).transform(X)
    assert cleaned[0, COL["education"]] == education_after
    assert cleaned[0, COL["marriage"]] == marriage_after
    untouched = [i for n, i in COL.items() if n not in ("education", "marriage")]
    np.testing.assert_array_equal(cleaned[:, untouched], X[:, untouched])


def test_cleaning_does_not_modify_the_callers_array() -> None:
    X = rows({"education": 0})
    CategoryCleaner().transform(X)
    assert X[0, COL["education"]] == 0


def test_engineered_features_have_the_documented_values() -> None:
    X = rows(
        {
            "limit_bal": 10000,
            "pay_0": 2, "pay_2": 0, "pay_3": -1, "pay_4": 1, "pay_5": -2, "pay_6": 0,
            "bill_amt1": 5000, "bill_amt2": 4000, "bill_amt3": 0, "bill_amt4": -100,
            "bill_amt5": 2000, "bill_amt6": 1000,
            "pay_amt1": 2000, "pay_amt2": 50, "pay_amt3": 10, "pay_amt4": 500, "pay_amt5": 0,
        }
    )  # fmt: skip
    engineer = FeatureEngineer().fit(X)
    out = dict(zip(engineer.get_feature_names_out(), engineer.transform(X)[0], strict=True))
    assert out["utilisation_1"] == pytest.approx(0.5)
    assert out["utilisation_6"] == pytest.approx(0.1)
    assert out["payment_ratio_1"] == pytest.approx(2000 / 4000)  # September pays August's bill
    assert out["payment_ratio_2"] == 1.0  # nothing billed in July: counts as paid
    assert out["payment_ratio_3"] == 1.0  # June bill in credit
    assert out["payment_ratio_4"] == pytest.approx(500 / 2000)
    assert out["payment_ratio_5"] == pytest.approx(0 / 1000)
    assert out["months_late"] == 2
    assert out["months_paid_duly"] == 2
    assert out["worst_delay"] == 2
    assert out["delay_trend"] == 2
    assert out["utilisation_trend"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    "groups", [(), ("utilisation",), ("delinquency", "trend"), tuple(FEATURE_GROUPS)]
)
def test_names_out_match_the_columns_produced(groups: tuple[str, ...]) -> None:
    X = rows({}, {"pay_0": 3})
    engineer = FeatureEngineer(groups=groups).fit(X)
    out = engineer.transform(X)
    assert out.shape == (2, len(engineer.get_feature_names_out()))
    assert np.isfinite(out).all()


def test_unknown_groups_and_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown feature groups"):
        FeatureEngineer(groups=("astrology",)).fit(rows({}))
    with pytest.raises(ValueError, match="23 columns"):
        CategoryCleaner().transform(np.zeros((2, 22)))


def test_transformers_follow_scikit_learn_conventions() -> None:
    engineer = FeatureEngineer(groups=("trend",))
    assert clone(engineer).get_params() == {"groups": ("trend",), "excluded": ()}
    assert CategoryCleaner().get_params() == {}
