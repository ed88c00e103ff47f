"""The Spark engine: a portfolio scored where the data already lives, beyond one machine.

`score_dataframe` is the library function for data teams (a notebook, `spark-submit`):
it takes a Spark DataFrame in the data set's layout and returns it with the score
columns and `error`. Spark does the distribution, the reading and the writing; each
Arrow batch is scored by `portfolio.scoring.score_frame` inside `mapInPandas`, the very
step the local engine runs, so both give `/predict`'s probabilities bit for bit.

The model version travels once per executor as a broadcast of its checksummed bytes
(compiled model, explainer, manifest); each Python worker opens one predictor from them
and keeps it for every batch (onnxruntime sessions do not pickle).
"""

import os
import sys
from pathlib import Path
from typing import Final

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import col
from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

from model_store.manifest import ModelManifest
from model_store.runtime import Predictor
from model_store.store import CompiledVersion
from portfolio.formats import file_format
from portfolio.scoring import (
    ERROR_COLUMN,
    LISTED_REJECTS,
    REASON_COLUMNS,
    ROW_COLUMN,
    feature_columns,
    score_frame,
)

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent

# One predictor per Python worker process and model version.
_PREDICTORS: dict[str, Predictor] = {}


def _predictor(payload: tuple[bytes, bytes, bytes | None]) -> Predictor:
    manifest_json, compiled, explainer = payload
    manifest = ModelManifest.model_validate_json(manifest_json)
    predictor = _PREDICTORS.get(manifest.version)
    if predictor is None:
        # one thread: Spark already runs one Python worker per core
        predictor = Predictor(CompiledVersion(manifest, compiled, explainer), threads=1)
        _PREDICTORS[manifest.version] = predictor
    return predictor


def output_schema(schema: StructType, explain: bool) -> StructType:
    fields = [
        *schema.fields,
        StructField("probability", DoubleType()),
        StructField("default", BooleanType()),
        StructField("score", LongType()),
        StructField("grade", LongType()),
        StructField("model_version", StringType()),
        *(StructField(name, StringType()) for name in (REASON_COLUMNS if explain else ())),
        StructField(ERROR_COLUMN, StringType()),
    ]
    return StructType(fields)


def score_dataframe(df: DataFrame, model: CompiledVersion, explain: bool = False) -> DataFrame:
    """`df` with `probability`, `default`, `score`, `grade`, `model_version` (and
    `reason_1` .. `reason_4` with `explain`) and `error`: null for scored rows, each
    broken rule for the others, whose score columns are null."""
    feature_columns(df.columns)  # fail on the driver, not in every task
    if explain and model.explainer is None:
        raise ValueError(f"model version {model.version} has no explainer: no reason codes")
    payload = df.sparkSession.sparkContext.broadcast(
        (model.manifest.model_dump_json().encode(), model.compiled, model.explainer)
    )
    # Spark reads a dot in a column name as a nested field when mapInPandas selects its
    # input (the data set's own target is `default.payment.next.month`): such columns
    # travel under plain names and get theirs back on the way out.
    plain = {c: f"_column_{i}" for i, c in enumerate(df.columns) if "." in c or "`" in c}
    original = {v: k for k, v in plain.items()}
    safe = df.withColumnsRenamed(plain) if plain else df

    def score(batches):
        predictor = _predictor(payload.value)
        for batch in batches:
            yield score_frame(batch.rename(columns=original), predictor, explain).rename(
                columns=plain
            )

    scored = safe.mapInPandas(score, output_schema(safe.schema, explain))
    return scored.withColumnsRenamed(original) if original else scored


def session(master: str | None) -> SparkSession:
    """A session whose Python workers can import this project (local mode and `--master`)."""
    path = os.environ.get("PYTHONPATH", "")
    if str(PROJECT_ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), path) if p)
    # workers run this interpreter (the project's environment), not whatever `python` is
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("credit-default portfolio")
    if master:
        builder = builder.master(master)
    return (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def read(spark: SparkSession, path: Path) -> DataFrame:
    if file_format(path) == "parquet":
        return spark.read.parquet(str(path))
    # every cell as text, exactly as written: the contract checks parse it, as locally
    return spark.read.csv(str(path), header=True, inferSchema=False, enforceSchema=False)


def write(df: DataFrame, path: Path) -> None:
    """A directory of parts, as Spark writes; refuses to replace an existing output."""
    writer = df.write.mode("errorifexists")
    if file_format(path) == "parquet":
        writer.parquet(str(path))
    else:
        writer.option("header", True).csv(str(path))


def _with_row_numbers(df: DataFrame) -> DataFrame:
    """Without an ID column, rejects are named by their 1-based row in the input."""
    if any(column.upper() == "ID" for column in df.columns):
        return df
    schema = StructType([*df.schema.fields, StructField(ROW_COLUMN, LongType())])
    numbered = df.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1))
    return df.sparkSession.createDataFrame(numbered, schema)


def score_with_spark(
    spark: SparkSession,
    source: Path,
    target: Path,
    model: CompiledVersion,
    explain: bool,
    rejects: Path | None,
) -> tuple[int, int, list[str]]:
    """Score `source` into `target`; returns (scored, rejected, first rejects listed).

    Without `rejects`, any row that breaks the contract stops the run before anything is
    written."""
    df = read(spark, source)
    named = _with_row_numbers(df)
    key = next((c for c in named.columns if c.upper() == "ID"), ROW_COLUMN)
    scored = score_dataframe(named, model, explain).persist()
    try:
        bad = scored.filter(col(ERROR_COLUMN).isNotNull())
        rejected = bad.count()
        examples = [
            f"{key} {row[key]}: {row[ERROR_COLUMN]}"
            for row in bad.select(key, ERROR_COLUMN).limit(LISTED_REJECTS).collect()
        ]
        if rejected and rejects is None:
            return 0, rejected, examples
        good = scored.filter(col(ERROR_COLUMN).isNull()).drop(ERROR_COLUMN)
        if key == ROW_COLUMN:
            good = good.drop(ROW_COLUMN)
        write(good, target)
        if rejects is not None:
            score_columns = [c for c in scored.columns if c not in named.columns]
            write(bad.drop(*[c for c in score_columns if c != ERROR_COLUMN]), rejects)
        return scored.count() - rejected, rejected, examples
    finally:
        scored.unpersist()
