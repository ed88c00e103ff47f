"""The streaming file scorer and the column-wise contract checks it relies on."""

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from model_store import ModelStore
from model_store.runtime import Predictor
from portfolio.columns import as_json_value, check_columns
from portfolio.local import count_rows, main, score_file
from schemas import EXAMPLE_CUSTOMER, FEATURE_NAMES, CustomerFeatures
from schemas.reasons import REASONS, contributions_by_reason, top_reasons

HEADER = ["ID", *(name.upper() for name in FEATURE_NAMES), "default.payment.next.month"]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def example_row(row_id: int, **changes: str) -> list[str]:
    values = {name.upper(): str(EXAMPLE_CUSTOMER[name]) for name in FEATURE_NAMES} | changes
    return [str(row_id), *(values[name.upper()] for name in FEATURE_NAMES), "0"]


def test_file_scorer_scores_valid_rows_and_names_bad_ones(
    trained_store: Path, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [example_row(i, AGE=str(20 + i)) for i in range(1, 8)]
    rows[2] = example_row(3, AGE="150")
    rows[4] = example_row(5, SEX="1.5", BILL_AMT1="nan", PAY_AMT2="")
    write_csv(source, rows)
    predictor = Predictor(ModelStore(trained_store).load("production"))
    counts = score_file(source, target, predictor, chunk_rows=3)  # several chunks
    assert counts == {"rows": 7, "scored": 5, "rejected": 2}
    out = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(out.columns) == ["row", "ID", "probability", "default", "model_version", "error"]
    assert out["row"].tolist() == [str(i) for i in range(1, 8)]
    assert out["ID"].tolist() == [str(i) for i in range(1, 8)]
    assert out.loc[2, "error"] == "age: Input should be less than or equal to 120"
    assert out.loc[4, "error"] == (
        "sex: Input should be a valid integer; bill_amt1: Input should be a valid number; "
        "pay_amt2: Input should be a valid number"
    )
    assert out.loc[[2, 4], "probability"].tolist() == ["", ""]
    assert out.loc[[2, 4], "default"].tolist() == ["", ""]
    good = out.drop(index=[2, 4])
    customers = [
        CustomerFeatures.model_validate({**EXAMPLE_CUSTOMER, "age": 20 + int(i)})
        for i in good["ID"]
    ]
    expected = predictor.predict_proba(np.array([c.as_row() for c in customers]))
    assert [float(p) for p in good["probability"]] == expected.tolist()
    assert good["default"].tolist() == [str(int(p >= predictor.threshold)) for p in expected]
    assert set(out["model_version"]) == {predictor.version}
    assert not (tmp_path / ".out.csv.partial").exists()


def test_explain_adds_the_reason_codes_the_api_gives(
    trained_store: Path, data_path: Path, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    frame = pd.read_csv(data_path, nrows=30, dtype=str)
    frame.loc[4, "AGE"] = "7"  # rejected: no probability, no reasons
    frame.to_csv(source, index=False)
    args = [str(source), "--out", str(target), "--store", str(trained_store), "--explain"]
    assert main([*args, "--chunk-rows", "7"]) == 0
    out = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(out.columns)[-4:] == ["reason_1", "reason_2", "reason_3", "reason_4"]
    assert out.loc[4, "error"]
    assert out.loc[4, ["reason_1", "reason_2", "reason_3", "reason_4"]].tolist() == [""] * 4

    predictor = Predictor(ModelStore(trained_store).load("production"))
    valid = out.drop(index=4)
    rows = frame.drop(index=4)[[name.upper() for name in FEATURE_NAMES]].to_numpy(float)
    explained = predictor.explain(rows)
    by_reason = contributions_by_reason(explained.contributions, explained.model_inputs)
    for (_, written), chosen in zip(valid.iterrows(), top_reasons(by_reason), strict=True):
        codes = [REASONS[i].code for i in chosen]
        assert [written[f"reason_{k}"] for k in range(1, 5)] == codes + [""] * (4 - len(codes))
    assert [float(p) for p in valid["probability"]] == explained.probabilities.tolist()
    assert valid["reason_1"].astype(bool).any()


def test_file_scorer_cli_refuses_a_file_without_the_features(
    trained_store: Path, tmp_path: Path
) -> None:
    source = tmp_path / "other.csv"
    source.write_text("a,b\n1,2\n")
    code = main([str(source), "--out", str(tmp_path / "x.csv"), "--store", str(trained_store)])
    assert code == 2
    assert not (tmp_path / "x.csv").exists()


def test_file_scorer_cli_scores_the_real_data(
    trained_store: Path, data_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "scored.csv"
    assert main([str(data_path), "--out", str(target), "--store", str(trained_store)]) == 0
    out = pd.read_csv(target)
    assert len(out) == count_rows(data_path) == 24_000
    assert out["error"].isna().all()
    assert out["probability"].between(0, 1).all()


def test_row_count_handles_a_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("h\n1\n2")
    assert count_rows(path) == 2
    path.write_text("h\n1\n2\n")
    assert count_rows(path) == 2


cells = st.one_of(
    st.integers(-5, 200).map(str),
    st.floats(-1e10, 1e10, allow_nan=False).map(repr),
    st.sampled_from(
        ["", " 7 ", "2.0", "1e3", "+3", "abc", "nan", "inf", "-inf", "1e400", "0x10", "TRUE"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FEATURE_NAMES), cell=cells)
def test_column_checks_accept_exactly_what_the_contract_accepts(field: str, cell: str) -> None:
    frame = pd.DataFrame(
        [{name: str(EXAMPLE_CUSTOMER[name]) for name in FEATURE_NAMES} | {field: cell}]
    )
    checked = check_columns(frame)
    value: Any = as_json_value(field, cell)
    try:
        CustomerFeatures.model_validate({**EXAMPLE_CUSTOMER, field: value})
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(checked.valid[0]) == accepted, (field, cell, value)
    if accepted:
        assert checked.X[0, FEATURE_NAMES.index(field)] == float(value)
    else:
        assert checked.errors[0].startswith(f"{field}: ")


def test_a_cell_is_read_as_a_json_client_would_send_it() -> None:
    assert as_json_value("age", "35") == 35
    assert as_json_value("age", "35.0") == 35
    assert as_json_value("age", "35.5") == 35.5
    assert as_json_value("limit_bal", "5e+05") == 500000.0
    assert math.isinf(as_json_value("bill_amt1", "inf"))
    assert as_json_value("bill_amt1", None) is None
    assert json.dumps(as_json_value("sex", "x")) == '"x"'
