"""The Spark engine: a portfolio scored where the data already lives, beyond one machine.

`score_dataframe` is the library function for data teams (a notebook, `spark-submit`):
it takes a Spark DataFrame in the data set's layout and returns it with the score
columns and `error`. Spark does the distribution, the reading and the writing; each
Arrow batch is scored by `portfolio.scoring.score_batch` inside `mapInArrow`: Arrow to
numpy and back, with none of `mapInPandas`' conversions to and from pandas frames, and
the same checks and `Predictor.score` call as the local engine's chunks, so both give
`/predict`'s probabilities bit for bit.

The model version travels once per executor as a broadcast of its checksummed bytes
(compiled model, explainer, manifest); each Python worker opens one predictor from them
and keeps it for every batch (onnxruntime sessions do not pickle).

`score_with_spark` (the CLI's `--engine spark`) scores each row once, on its way to the
output, and counts rows and rejects in that same pass: on two cores the JVM's own work
(Parquet, rows to Arrow and back) is what Spark adds to the scoring, so every extra pass
over the book, or keeping it all in memory, shows in the run's time.
"""

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
from pyspark.accumulators import Accumulator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import col
from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

from model_store.manifest import ModelManifest
from model_store.runtime import Predictor
from model_store.store import CompiledVersion
from portfolio.formats import Format, file_format
from portfolio.scoring import (
    ERROR_COLUMN,
    LISTED_REJECTS,
    REASON_COLUMNS,
    ROW_COLUMN,
    feature_columns,
    reject_batch,
    score_batch,
)

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent

# One predictor per Python worker process and model version.
_PREDICTORS: dict[str, Predictor] = {}


def _predictor(payload: tuple[bytes, bytes, bytes | None, bytes | None]) -> Predictor:
    manifest_json, compiled, explainer, onnx = payload
    manifest = ModelManifest.model_validate_json(manifest_json)
    predictor = _PREDICTORS.get(manifest.version)
    if predictor is None:
        # one thread: Spark already runs one Python worker per core
        predictor = Predictor(CompiledVersion(manifest, compiled, explainer, onnx), threads=1)
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


def _map_in_arrow(
    df: DataFrame,
    func: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]],
    schema: Callable[[StructType], StructType],
) -> DataFrame:
    """`df.mapInArrow(func, schema(input schema))`, whatever `df`'s column names.

    Spark reads a dot in a column name as a nested field when mapInArrow selects its
    input (the data set's own target is `default.payment.next.month`): such columns
    travel under plain names and get theirs back on the way out. No feature has such a
    name, so the batches are checked and scored under the plain ones."""
    plain = {c: f"_column_{i}" for i, c in enumerate(df.columns) if "." in c or "`" in c}
    original = {v: k for k, v in plain.items()}
    safe = df.withColumnsRenamed(plain) if plain else df
    mapped = safe.mapInArrow(func, schema(safe.schema))
    return mapped.withColumnsRenamed(original) if original else mapped


@dataclass(frozen=True)
class _Counts:
    """Rows scored and rows rejected, added up by the scoring pass itself: the write's
    tasks are the last stage of its job, where Spark applies each task's updates once."""

    rows: Accumulator[int]
    rejected: Accumulator[int]

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows.add(batch.num_rows)
        self.rejected.add(batch.num_rows - batch.column(ERROR_COLUMN).null_count)


def _scored(
    df: DataFrame, model: CompiledVersion, explain: bool, counts: _Counts | None = None
) -> DataFrame:
    """`score_dataframe`, and with `counts` the pass also adds up its rows and rejects, so
    that a run learns them without a pass of its own."""
    feature_columns(df.columns)  # fail on the driver, not in every task
    if explain and model.explainer is None:
        raise ValueError(f"model version {model.version} has no explainer: no reason codes")
    payload = df.sparkSession.sparkContext.broadcast(
        (model.manifest.model_dump_json().encode(), model.compiled, model.explainer, model.onnx)
    )

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        predictor = _predictor(payload.value)
        for batch in batches:
            scored = score_batch(batch, predictor, explain)
            if counts is not None:
                counts.add(scored)
            yield scored

    return _map_in_arrow(df, score, lambda schema: output_schema(schema, explain))


def score_dataframe(df: DataFrame, model: CompiledVersion, explain: bool = False) -> DataFrame:
    """`df` with `probability`, `default`, `score`, `grade`, `model_version` (and
    `reason_1` .. `reason_4` with `explain`) and `error`: null for scored rows, each
    broken rule for the others, whose score columns are null."""
    return _scored(df, model, explain)


def _rejected_rows(df: DataFrame) -> DataFrame:
    """Only `df`'s rows that break the contract, with its columns and `error`: the rows of
    `score_dataframe` whose `error` is set, less its score columns, found without scoring."""

    def reject(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield reject_batch(batch)

    return _map_in_arrow(
        df,
        reject,
        lambda schema: StructType([*schema.fields, StructField(ERROR_COLUMN, StringType())]),
    )


def _first_rejects(df: DataFrame, key: str) -> list[str]:
    """The first rejects, in partition order, as `key value: reasons`, from a pass of the
    contract checks alone that brings at most LISTED_REJECTS rows per partition back."""
    schema = StructType(
        [StructField(key, df.schema[key].dataType), StructField(ERROR_COLUMN, StringType())]
    )

    def first(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        listed = 0
        for batch in batches:
            bad = reject_batch(batch).select([key, ERROR_COLUMN])
            take = min(bad.num_rows, LISTED_REJECTS - listed)
            listed += take
            yield bad.slice(0, take)

    listed = _map_in_arrow(df, first, lambda _: schema).collect()
    return [f"{key} {row[0]}: {row[1]}" for row in listed[:LISTED_REJECTS]]


# A batch run's settings, over Spark's defaults: on two cores, every second the JVM spends
# beside the Python workers' scoring lengthens the run (measured over the bench's
# 3,000,000 rows on local[2]: 1 to 3% shorter with them).
RUN_SETTINGS: Final = {
    # The JIT compiles only code that runs often: by default C2 spends seconds of CPU
    # compiling Spark's start-up code once; the per-row loops run millions of times and
    # are compiled all the same.
    "spark.driver.defaultJavaOptions": "-XX:CompileThresholdScaling=10",
    # Arrow batches are bounded by rows (maxRecordsPerBatch, 10,000: a few MB of this
    # layout); a byte bound as well makes Spark size the batch after every row.
    "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1),  # Int.MaxValue: off
    "spark.ui.enabled": "false",  # nobody watches a scoring run's web UI
    "spark.ui.showConsoleProgress": "false",
}


def session(master: str | None) -> SparkSession:
    """A session whose Python workers can import this project (local mode and `--master`),
    with RUN_SETTINGS (the JVM's only when this call starts it)."""
    path = os.environ.get("PYTHONPATH", "")
    if str(PROJECT_ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), path) if p)
    # workers run this interpreter (the project's environment), not whatever `python` is
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("credit-default portfolio")
    if master:
        builder = builder.master(master)
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    for key, value in RUN_SETTINGS.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read(spark: SparkSession, path: Path) -> DataFrame:
    if file_format(path) == "parquet":
        return spark.read.parquet(str(path))
    # every cell as text, exactly as written: the contract checks parse it, as locally
    return spark.read.csv(str(path), header=True, inferSchema=False, enforceSchema=False)


def write(df: DataFrame, path: Path, format: Format | None = None) -> None:
    """A directory of parts, as Spark writes; refuses to replace an existing output."""
    writer = df.write.mode("errorifexists")
    if (format or file_format(path)) == "parquet":
        writer.parquet(str(path))
    else:
        writer.option("header", True).csv(str(path))


def _filesystem(spark: SparkSession, path: Path) -> tuple[Any, Any]:
    """`path` and its file system as Spark's writer resolves them (local, HDFS, ...)."""
    context = spark.sparkContext
    located = context._jvm.org.apache.hadoop.fs.Path(str(path))
    return located, located.getFileSystem(context._jsc.hadoopConfiguration())


def _exists(spark: SparkSession, path: Path) -> bool:
    located, filesystem = _filesystem(spark, path)
    return bool(filesystem.exists(located))


def _remove(spark: SparkSession, path: Path) -> None:
    located, filesystem = _filesystem(spark, path)
    filesystem.delete(located, True)


def _move(spark: SparkSession, source: Path, target: Path) -> None:
    located, filesystem = _filesystem(spark, source)
    if _exists(spark, target) or not filesystem.rename(located, _filesystem(spark, target)[0]):
        raise FileExistsError(f"{target}: could not move the scored output there")


def _partial(target: Path) -> Path:
    """Where the output is written until the run knows it may keep it: beside the target,
    hidden (Spark skips names starting with a dot), never a leftover of another run."""
    return target.with_name(f".{target.stem}.partial-{uuid.uuid4().hex[:12]}{target.suffix}")


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

    Without `rejects`, any row that breaks the contract stops the run with nothing
    written under `target`. Each row is scored once: the scored rows go to a hidden
    partial output while the same pass counts rows and rejects, and the partial output
    takes `target`'s name only if the run may keep it (keeping every scored row instead,
    `persist`, to count and list them first cost more than the scoring on a large book).
    The rejects themselves need no scoring: they are listed and written by passes of the
    contract checks alone, which run only when there are some (or a rejects file to
    write)."""
    output_format = file_format(target)
    if _exists(spark, target):
        raise FileExistsError(f"{target} exists; scored output never replaces a file")
    df = read(spark, source)
    named = _with_row_numbers(df)
    key = next((c for c in named.columns if c.upper() == "ID"), ROW_COLUMN)
    context = spark.sparkContext
    counts = _Counts(context.accumulator(0), context.accumulator(0))
    good = _scored(named, model, explain, counts).filter(col(ERROR_COLUMN).isNull())
    good = good.drop(ERROR_COLUMN, *([ROW_COLUMN] if key == ROW_COLUMN else []))
    partial = _partial(target)
    try:
        write(good, partial, output_format)
        rejected, examples = counts.rejected.value, []
        if rejected:
            features = list(feature_columns(named.columns))
            examples = _first_rejects(named.select(key, *features), key)
        if rejected and rejects is None:
            return 0, rejected, examples
        _move(spark, partial, target)
    finally:
        _remove(spark, partial)
    if rejects is not None:
        write(_rejected_rows(named), rejects)
    return counts.rows.value - rejected, rejected, examples
