"""Loading and validating the data set in both of its layouts: the real file itself (slow),
and the contract's rules on a file of synthetic rows in its layout."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xlwt

from train.data import DatasetError, load_dataset

TARGET = "default.payment.next.month"


@pytest.fixture(scope="module")
def valid_frame(synthetic_data_path: Path) -> pd.DataFrame:
    """Valid rows in the data set's CSV layout, for the tests to break (synthetic: the rules
    are the contract's, whatever the customers)."""
    return pd.read_csv(synthetic_data_path)


@pytest.mark.slow  # the real file
def test_the_real_file_loads_completely(data_path: Path) -> None:
    dataset = load_dataset(data_path)
    assert dataset.X.shape == (24_000, 23)
    assert dataset.provenance.rows_rejected == 0
    assert dataset.provenance.rows_used == 24_000
    assert len(dataset.provenance.sha256) == 64
    assert 0.21 < dataset.y.mean() < 0.23  # 22.1% defaults, as documented
    assert set(np.unique(dataset.y)) == {0, 1}


def test_a_missing_file_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(DatasetError) as caught:
        load_dataset(missing)
    message = str(caught.value)
    assert str(missing) in message
    assert "default of credit card clients" in message
    assert "UCI" in message
    assert "DATA_PATH" in message


def test_a_file_that_is_not_this_dataset_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "iris.csv"
    other.write_text("sepal_length,sepal_width,species\n5.1,3.5,setosa\n")
    with pytest.raises(DatasetError, match="missing columns"):
        load_dataset(other)


def test_rows_breaking_the_contract_are_counted_and_left_out(
    tmp_path: Path, valid_frame: pd.DataFrame
) -> None:
    frame = valid_frame.head(500).copy()
    frame.loc[3, "AGE"] = 7
    frame.loc[10, "SEX"] = 3
    path = tmp_path / "few-bad.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(path)
    assert dataset.provenance.rows == 500
    assert dataset.provenance.rows_used == 498
    assert dataset.provenance.rows_rejected == 2
    assert dataset.provenance.rejected_reasons == {
        "age: Input should be greater than or equal to 18": 1,
        "sex: Input should be less than or equal to 2": 1,
    }
    assert dataset.X.shape == (498, 23)


def test_too_many_bad_rows_means_the_wrong_file(tmp_path: Path, valid_frame: pd.DataFrame) -> None:
    frame = valid_frame.head(200).copy()
    frame.loc[:10, "PAY_0"] = 12
    frame.loc[20, "LIMIT_BAL"] = None
    path = tmp_path / "many-bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        DatasetError,
        match=r"12 of 200 rows .* pay_0: Input should be less than or equal to 9 \(11 rows\)",
    ):
        load_dataset(path)


def test_labels_other_than_zero_and_one_are_rejected(
    tmp_path: Path, valid_frame: pd.DataFrame
) -> None:
    frame = valid_frame.head(300).copy()
    frame.loc[5, TARGET] = 2
    path = tmp_path / "bad-label.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(path)
    assert dataset.provenance.rejected_reasons == {"target: should be 0 or 1": 1}


def test_the_original_uci_xls_layout_gives_the_same_data(
    tmp_path: Path, valid_frame: pd.DataFrame
) -> None:
    """The UCI workbook: a row X1..X23/Y above the names, target named with spaces."""
    frame = valid_frame.head(300)
    book = xlwt.Workbook()
    sheet = book.add_sheet("Data")
    names = [*frame.columns[:-1], "default payment next month"]
    sheet.write(0, 0, "")
    for j in range(1, 24):
        sheet.write(0, j, f"X{j}")
    sheet.write(0, 24, "Y")
    for j, name in enumerate(names):
        sheet.write(1, j, name)
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        for j, value in enumerate(row):
            sheet.write(i, j, float(value))  # workbooks store numbers as floats
    xls = tmp_path / "default of credit card clients.xls"
    book.save(str(xls))
    csv = tmp_path / "same-rows.csv"
    frame.to_csv(csv, index=False)

    from_xls, from_csv = load_dataset(xls), load_dataset(csv)
    np.testing.assert_array_equal(from_xls.X, from_csv.X)
    np.testing.assert_array_equal(from_xls.y, from_csv.y)
    assert from_xls.provenance.rows_used == 300
