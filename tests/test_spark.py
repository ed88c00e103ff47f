"""The Spark engine in local mode (PySpark from PyPI, Java from Debian): the same answers
as the local engine and as /predict, rejects, pass-through columns, Parquet parts."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyarrow import pandas_compat

from model_store import ModelStore
from model_store.runtime import Predictor
from portfolio.cli import main
from portfolio.scoring import score_frame
from schemas.features import FEATURE_NAMES
from tests.support import PROJECT_ROOT

pytestmark = pytest.mark.slow
FEATURE_COLUMNS = [name.upper() for name in FEATURE_NAMES]


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from portfolio.spark import session

    spark = session("local[2]")
    yield spark
    spark.stop()


def _read_parts(path: Path) -> pd.DataFrame:
    if any(path.glob("*.parquet")):
        return pd.read_parquet(path)
    parts = sorted(path.glob("part-*.csv"))
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts])


def test_spark_local_2_gives_every_row_the_bits_of_predict_and_the_local_engine(
    spark, real_store: Path, data_path: Path, tmp_path: Path
) -> None:
    """All 24,000 rows: Spark `local[2]` (several partitions, Arrow batches), the local
    engine (chunks) and the predictor /predict uses give identical probabilities."""
    from portfolio.spark import score_with_spark

    model = ModelStore(real_store).load("production")
    frame = pd.read_csv(data_path)
    source = tmp_path / "book.parquet"
    frame.to_parquet(source, index=False)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2500")

    scored, rejected, _ = score_with_spark(
        spark, source, tmp_path / "spark.parquet", model, explain=False, rejects=None
    )
    assert (scored, rejected) == (24_000, 0)
    from_spark = _read_parts(tmp_path / "spark.parquet").set_index("ID").loc[frame["ID"]]

    assert main([str(source), str(tmp_path / "local.parquet"), "--store", str(real_store)]) == 0
    from_local = pd.read_parquet(tmp_path / "local.parquet")

    one_at_a_time = Predictor(model, threads=1)
    rows = frame[FEATURE_COLUMNS].to_numpy(float)
    single = np.array([one_at_a_time.predict_proba(rows[i : i + 1])[0] for i in range(len(rows))])

    assert np.array_equal(from_spark["probability"].to_numpy(), single), "spark"
    assert np.array_equal(from_local["probability"].to_numpy(), single), "local engine"
    assert (from_spark["default"].to_numpy() == (single >= model.threshold)).all()
    assert set(from_spark["model_version"]) == {model.version}
    # score points and grades: the scoring call's own, the same on both engines
    expected = one_at_a_time.score(rows)
    assert from_spark["score"].tolist() == expected.points.tolist()
    assert from_spark["grade"].tolist() == expected.grades.tolist()
    assert from_local["score"].tolist() == expected.points.tolist()
    assert from_local["grade"].tolist() == expected.grades.tolist()
    # every input column passes through unchanged
    pd.testing.assert_frame_equal(from_spark.reset_index()[frame.columns], frame, check_dtype=False)


def test_spark_reasons_and_rejects_match_the_local_engine(
    spark, real_store: Path, data_path: Path, tmp_path: Path
) -> None:
    from portfolio.spark import score_with_spark

    frame = pd.read_csv(data_path, nrows=300, dtype=str)
    frame.loc[7, "AGE"] = "150"
    frame.loc[42, "PAY_0"] = "two"
    source = tmp_path / "book.csv"
    frame.to_csv(source, index=False)
    model = ModelStore(real_store).load("production")

    args = ["--store", str(real_store), "--explain", "--rejects"]
    assert main([str(source), str(tmp_path / "local.csv"), *args, str(tmp_path / "lb.csv")]) == 0
    scored, rejected, examples = score_with_spark(
        spark, source, tmp_path / "spark.csv", model, True, tmp_path / "sb.csv"
    )
    assert (scored, rejected) == (298, 2)
    local = pd.read_csv(tmp_path / "local.csv", dtype=str, keep_default_na=False)
    remote = _read_parts(tmp_path / "spark.csv").set_index("ID").loc[local["ID"]].reset_index()
    assert list(remote.columns) == list(local.columns)
    reasons = [f"reason_{k}" for k in range(1, 5)]
    assert remote[reasons].to_numpy().tolist() == local[reasons].to_numpy().tolist()
    assert (
        remote["probability"].astype(float).tolist() == local["probability"].astype(float).tolist()
    )
    spark_rejects = _read_parts(tmp_path / "sb.csv").sort_values("ID", key=lambda s: s.astype(int))
    local_rejects = pd.read_csv(tmp_path / "lb.csv", dtype=str, keep_default_na=False)
    expected_ids = frame.loc[[7, 42], "ID"].tolist()
    assert spark_rejects["ID"].tolist() == local_rejects["ID"].tolist() == expected_ids
    assert local_rejects["row"].tolist() == ["8", "43"]
    assert spark_rejects["error"].tolist() == local_rejects["error"].tolist()
    assert sorted(examples) == sorted(
        f"ID {i}: {e}" for i, e in zip(local_rejects["ID"], local_rejects["error"], strict=True)
    )


def test_the_cli_with_spark_fails_on_bad_rows_without_rejects(
    real_store: Path, data_path: Path, tmp_path: Path
) -> None:
    """`--engine spark` through the CLI in its own process, as a data team runs it."""
    frame = pd.read_csv(data_path, nrows=50, dtype=str).drop(columns=["ID"])
    frame.loc[9, "LIMIT_BAL"] = "-5"
    source, target = tmp_path / "book.csv", tmp_path / "out.parquet"
    frame.to_csv(source, index=False)
    command = [sys.executable, "-m", "portfolio", "score", str(source), str(target)]
    options = ["--engine", "spark", "--master", "local[2]", "--store", str(real_store)]
    result = subprocess.run(
        [*command, *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        check=False,
    )
    assert result.returncode == 3, result.stderr
    message = " ".join(result.stderr.split())
    assert "1 row(s) break the contract; nothing was written" in message
    assert "row 10: limit_bal: Input should be greater than 0" in message
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.csv"]  # no partial output left


def _book_with_rejects(data_path: Path, rows: int) -> pa.Table:
    """Real rows as typed Parquet columns, plus what a pandas round trip used to change
    (a float column with NaN) and rows that break the contract (a NaN, an age of 150)."""
    frame = pd.read_csv(data_path, nrows=rows)
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].astype(float)
    frame.loc[3, "LIMIT_BAL"] = np.nan
    frame.loc[11, "AGE"] = 150
    frame["rate"] = np.where(frame.index % 5 == 0, np.nan, 0.25)
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_score_dataframe_gives_every_column_of_the_local_engines_scoring(
    spark, real_store: Path, data_path: Path, tmp_path: Path
) -> None:
    """The library function with reasons, in small Arrow batches, against the local
    engine's step (`score_frame`) converted to Arrow as it writes it: every row, rejects
    included, and every column, input and output, the same values."""
    from portfolio.spark import score_dataframe

    model = ModelStore(real_store).load("production")
    book = _book_with_rejects(data_path, 600)
    pq.write_table(book, tmp_path / "book.parquet")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "128")
    df = spark.read.parquet(str(tmp_path / "book.parquet"))

    scored = score_dataframe(df, model, explain=True)
    from_spark = scored.toArrow().sort_by("ID")
    local = score_frame(book.to_pandas(), Predictor(model, threads=1), explain=True)
    expected = pa.Table.from_pandas(local, preserve_index=False).cast(from_spark.schema)

    assert from_spark.column_names == expected.column_names
    assert from_spark.column_names[-10:] == [
        *("probability", "default", "score", "grade", "model_version"),
        *(f"reason_{k}" for k in range(1, 5)),
        "error",
    ]
    for name in from_spark.column_names:
        assert from_spark[name].equals(expected[name]), name
    rejected = from_spark.filter(pc.is_valid(from_spark["error"]))
    assert rejected.num_rows == 2  # the NaN limit and the age of 150
    for name in ("probability", "default", "score", "grade", "reason_1"):
        assert rejected[name].null_count == 2, name  # a reject's scores are null
    assert from_spark["probability"].null_count == 2


def test_spark_scores_through_map_in_arrow(spark, real_store: Path, data_path: Path) -> None:
    """The plan Spark runs holds a MapInArrow step and no MapInPandas one: batches go to
    the Python workers as Arrow and come back as Arrow, never as pandas frames."""
    from portfolio.spark import score_dataframe

    model = ModelStore(real_store).load("production")
    df = spark.createDataFrame(_book_with_rejects(data_path, 20).to_pandas())
    plan = score_dataframe(df, model)._jdf.queryExecution().executedPlan().toString()
    assert "MapInArrow" in plan
    assert "MapInPandas" not in plan


def test_an_arrow_batch_is_scored_without_pandas(
    real_store: Path, data_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each Spark worker runs on a typed batch builds no pandas frame or series and
    converts nothing to or from pandas (the conversions themselves are made to fail),
    and gives the very values of the local engine's pandas step."""
    from portfolio.scoring import score_batch

    predictor = Predictor(ModelStore(real_store).load("production"), threads=1)
    batch = pa.Table.from_pandas(pd.read_csv(data_path, nrows=2_000), preserve_index=False)
    batch = batch.to_batches(max_chunksize=2_000)[0]
    expected = pa.Table.from_pandas(score_frame(batch.to_pandas(), predictor, False))

    def no_pandas(*args: object, **kwargs: object) -> None:
        raise AssertionError("pandas on the Arrow path")

    monkeypatch.setattr(pd.DataFrame, "__init__", no_pandas)
    monkeypatch.setattr(pd.Series, "__init__", no_pandas)
    monkeypatch.setattr(pandas_compat, "table_to_dataframe", no_pandas)
    monkeypatch.setattr(pandas_compat, "dataframe_to_arrays", no_pandas)
    scored = score_batch(batch, predictor, explain=False)
    monkeypatch.undo()

    table = pa.Table.from_batches([scored])
    assert table.equals(expected.cast(table.schema))


def test_spark_workers_give_the_apis_contributions_on_every_kernel_path(
    spark, real_store: Path, data_path: Path
) -> None:
    """An executor on another CPU takes another kernel path: forcing, inside Spark's own
    Python workers, each path this CPU has gives every row the contributions the API
    serves, bit for bit."""
    from model_store.explainer import TreeExplainer, available_paths

    loaded = ModelStore(real_store).load("production")
    frame = pd.read_csv(data_path, nrows=300)[FEATURE_COLUMNS]
    served = Predictor(loaded).explain(frame.to_numpy(np.float64)).contributions
    paths = available_paths()
    payload = spark.sparkContext.broadcast((loaded, paths))

    def on_every_path(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        version, kernel_paths = payload.value
        predictor = Predictor(version, threads=1)
        n_inputs = len(version.manifest.explainer.model_inputs)
        for batch in batches:
            rows = np.column_stack(
                [batch.column(name).to_numpy().astype(np.float64) for name in FEATURE_COLUMNS]
            )
            _, model_inputs = predictor._model.predict_with_inputs(rows)
            for path in kernel_paths:
                explainer = TreeExplainer(version.explainer, n_inputs, threads=1, path=path)
                contributions = explainer.contributions(model_inputs)
                yield pa.RecordBatch.from_pydict(
                    {
                        "path": [path] * len(rows),
                        "row": batch.column("ROW"),
                        "bits": [row.tobytes() for row in contributions],
                    }
                )

    df = spark.createDataFrame(frame.assign(ROW=np.arange(len(frame))))
    schema = "path string, row long, bits binary"
    made = df.repartition(2).mapInArrow(on_every_path, schema).collect()
    assert sorted((r["path"], r["row"]) for r in made) == sorted(
        (path, row) for path in paths for row in range(len(frame))
    )
    for r in made:
        assert bytes(r["bits"]) == served[r["row"]].tobytes(), (r["path"], r["row"])
    print(f"Spark workers, paths {paths}: {len(frame)} rows each, the API's bits")
