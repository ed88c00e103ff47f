"""The streaming file scorer and the column-wise contract checks it relies on, on the
synthetic store and files in the data set's layout; the whole real file is scored too (slow)."""

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from model_store import ModelStore
from model_store.runtime import Predictor
from portfolio.cli import main
from portfolio.columns import as_json_value, check_columns
from portfolio.local import count_rows, score_file
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


def test_valid_rows_are_scored_and_bad_ones_written_apart(
    synthetic_store: Path, tmp_path: Path
) -> None:
    source, target, rejects = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "bad.csv"
    rows = [example_row(i, AGE=str(20 + i)) for i in range(1, 8)]
    rows[2] = example_row(3, AGE="150")
    rows[4] = example_row(5, SEX="1.5", BILL_AMT1="nan", PAY_AMT2="")
    write_csv(source, rows)
    predictor = Predictor(ModelStore(synthetic_store).load("production"))
    counts = score_file(source, target, predictor, rejects=rejects, chunk_rows=3)
    assert (counts.rows, counts.scored, counts.rejected) == (7, 5, 2)
    out = pd.read_csv(target, dtype=str, keep_default_na=False)
    # the input's columns, unchanged and in order, then the scores
    assert list(out.columns) == [
        *HEADER, "probability", "default", "score", "grade", "model_version"
    ]  # fmt: skip
    assert out["ID"].tolist() == ["1", "2", "4", "6", "7"]
    assert out["default.payment.next.month"].tolist() == ["0"] * 5
    bad = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert list(bad.columns) == ["row", *HEADER, "error"]
    assert bad["row"].tolist() == ["3", "5"]
    assert bad["SEX"].tolist() == [rows[2][2], "1.5"]  # as written, nothing repaired
    assert bad.loc[0, "error"] == "age: Input should be less than or equal to 120"
    assert bad.loc[1, "error"] == (
        "sex: Input should be a valid integer; bill_amt1: Input should be a valid number; "
        "pay_amt2: Input should be a valid number"
    )
    customers = [
        CustomerFeatures.model_validate({**EXAMPLE_CUSTOMER, "age": 20 + int(i)}) for i in out["ID"]
    ]
    expected = predictor.predict_proba(np.array([c.as_row() for c in customers]))
    assert [float(p) for p in out["probability"]] == expected.tolist()
    assert out["default"].tolist() == [str(p >= predictor.threshold) for p in expected]
    scored = predictor.score(np.array([c.as_row() for c in customers]))
    assert out["score"].tolist() == [str(v) for v in scored.points.tolist()]
    assert out["grade"].tolist() == [str(v) for v in scored.grades.tolist()]
    assert set(out["model_version"]) == {predictor.version}
    assert not list(tmp_path.glob(".*.partial.*"))


def test_without_rejects_a_bad_row_fails_the_run_and_writes_nothing(
    synthetic_store: Path, tmp_path: Path, capsys
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [example_row(i) for i in range(1, 6)]
    rows[3] = example_row(4, PAY_0="12")
    write_csv(source, rows)
    code = main([str(source), str(target), "--store", str(synthetic_store), "--chunk-rows", "2"])
    assert code == 3
    assert not target.exists()
    assert not list(tmp_path.glob(".*.partial.*"))
    message = " ".join(capsys.readouterr().err.split())
    assert "1 row(s) break the contract; nothing was written" in message
    assert "row 4: pay_0: Input should be less than or equal to 9" in message


def test_parquet_in_and_out_keeps_the_columns_and_their_types(
    synthetic_store: Path, synthetic_data_path: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(synthetic_data_path, nrows=500)
    source, target = tmp_path / "book.parquet", tmp_path / "scored.parquet"
    frame.to_parquet(source, index=False)
    args = [str(source), str(target), "--store", str(synthetic_store), "--chunk-rows", "120"]
    assert main(args) == 0
    out = pd.read_parquet(target)
    assert list(out.columns) == [
        *frame.columns, "probability", "default", "score", "grade", "model_version"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(out[frame.columns], frame)  # passed through, types kept
    assert out["default"].dtype == bool
    rows = frame[[name.upper() for name in FEATURE_NAMES]].to_numpy(float)
    predictor = Predictor(ModelStore(synthetic_store).load("production"))
    assert out["probability"].tolist() == predictor.predict_proba(rows).tolist()
    scored = predictor.score(rows)
    assert out["score"].tolist() == scored.points.tolist()
    assert out["grade"].tolist() == scored.grades.tolist()


def test_typed_parquet_columns_meet_the_same_rules_as_text(
    synthetic_store: Path, synthetic_data_path: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(synthetic_data_path, nrows=6)
    frame["SEX"] = frame["SEX"].astype(float)
    frame.loc[1, "SEX"] = 1.5  # not a whole number
    frame.loc[2, "BILL_AMT1"] = float("nan")  # missing
    frame.loc[3, "LIMIT_BAL"] = -10  # below the minimum
    frame.loc[4, "AGE"] = 2**40  # above the maximum
    source, target, rejects = tmp_path / "in.parquet", tmp_path / "out.csv", tmp_path / "r.csv"
    frame.to_parquet(source, index=False)
    args = [str(source), str(target), "--store", str(synthetic_store), "--rejects", str(rejects)]
    assert main(args) == 0
    bad = pd.read_csv(rejects)
    assert bad["row"].tolist() == [2, 3, 4, 5]
    assert bad["error"].tolist() == [
        "sex: Input should be a valid integer",
        "bill_amt1: Input should be a valid number",  # a missing cell, as JSON null
        "limit_bal: Input should be greater than 0",
        "age: Input should be less than or equal to 120",
    ]
    assert pd.read_csv(target)["ID"].tolist() == frame.loc[[0, 5], "ID"].tolist()


def test_explain_adds_the_reason_codes_the_api_gives(
    synthetic_store: Path, synthetic_data_path: Path, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    frame = pd.read_csv(synthetic_data_path, nrows=30, dtype=str)
    frame.to_csv(source, index=False)
    args = [str(source), str(target), "--store", str(synthetic_store), "--explain"]
    assert main([*args, "--chunk-rows", "7"]) == 0
    out = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(out.columns)[-4:] == ["reason_1", "reason_2", "reason_3", "reason_4"]
    predictor = Predictor(ModelStore(synthetic_store).load("production"))
    rows = frame[[name.upper() for name in FEATURE_NAMES]].to_numpy(float)
    explained = predictor.explain(rows)
    by_reason = contributions_by_reason(explained.contributions, explained.model_inputs)
    for (_, written), chosen in zip(out.iterrows(), top_reasons(by_reason), strict=True):
        codes = [REASONS[i].code for i in chosen]
        assert [written[f"reason_{k}"] for k in range(1, 5)] == codes + [""] * (4 - len(codes))
    assert [float(p) for p in out["probability"]] == explained.probabilities.tolist()
    assert out["reason_1"].astype(bool).any()


def test_the_cli_refuses_a_file_without_the_features_or_an_existing_output(
    synthetic_store: Path, tmp_path: Path
) -> None:
    source = tmp_path / "other.csv"
    source.write_text("a,b\n1,2\n")
    assert main([str(source), str(tmp_path / "x.csv"), "--store", str(synthetic_store)]) == 2
    assert not (tmp_path / "x.csv").exists()
    existing = tmp_path / "kept.csv"
    existing.write_text("precious\n")
    assert main([str(source), str(existing), "--store", str(synthetic_store)]) == 2
    assert existing.read_text() == "precious\n"
    assert main([str(source), str(tmp_path / "x.txt"), "--store", str(synthetic_store)]) == 2


@pytest.mark.slow  # the real file, all 24,000 rows
def test_the_cli_scores_the_real_data(real_store: Path, data_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "scored.csv"
    assert main([str(data_path), str(target), "--store", str(real_store)]) == 0
    out = pd.read_csv(target)
    assert len(out) == count_rows(data_path) == 24_000
    assert out["probability"].between(0, 1).all()
    assert out["ID"].tolist() == pd.read_csv(data_path)["ID"].tolist()


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
