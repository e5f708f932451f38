"""Score a Spark DataFrame with the same artifact and validation as the service, past one machine.

Each executor's Python worker loads the artifact once (hash-checked, as the service does) and
scores Arrow batches with `mapInArrow`. Every input row gives one output row: predictions where
it is valid, or nulls and the reasons in `rejects`. `split` separates the two.

    spark-submit --py-files mlvajra.zip app/mlvajra/batch/spark.py --model-dir /shared/penguins/1 \\
        --keep id s3://bucket/penguins.parquet s3://bucket/scored
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlvajra.artifact import Format, Manifest
from mlvajra.batch.ordering import run_sorted
from mlvajra.batch.scoring import LABEL, check_columns, prediction_columns
from mlvajra.batch.validation import validate_batch
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner

REJECTS = "rejects"
"""The column listing a row's problems (field, reason); empty for a scored row."""


def score_dataframe(
    frame: Any,
    model_dir: str | Path,
    keep: list[str] | None = None,
    untyped_text: bool = False,
    model_format: Format | None = None,
) -> Any:
    """One output row per input row: `keep` columns, predictions (null when invalid), rejects.

    `model_dir` is a folder readable on every executor (a shared mount), or a relative path into
    an archive shipped with the job (`--archives penguins-1.tgz#model`, then `model/1`);
    `untyped_text=True` when every column is text read from CSV without schema inference.
    """
    from pyspark.sql import types as spark_types

    keep = keep or []
    folder = str(model_dir)
    manifest = read_manifest(_local_folder(folder))
    chosen: Format = model_format or manifest.format
    check_columns(manifest, frame.columns, keep)
    inputs = [spec.name for spec in manifest.inputs]
    selected = frame.select(*dict.fromkeys([*keep, *inputs]))
    fields = [selected.schema[name] for name in keep]
    for name in prediction_columns(manifest):
        kind = _label_type(manifest) if name == LABEL else spark_types.DoubleType()
        fields.append(spark_types.StructField(name, kind, nullable=True))
    problem = spark_types.StructType(
        [
            spark_types.StructField("field", spark_types.StringType()),
            spark_types.StructField("reason", spark_types.StringType()),
        ]
    )
    fields.append(
        spark_types.StructField(REJECTS, spark_types.ArrayType(problem, False), nullable=False)
    )
    schema = spark_types.StructType(fields)

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        predictor = predictor_for(folder, chosen)
        for batch in batches:
            yield score_batch(predictor, batch, keep, untyped_text)

    return selected.mapInArrow(score_partition, schema)


def split(scored: Any, keep: list[str] | None = None) -> tuple[Any, Any]:
    """(scored rows without `rejects`, one row per problem: keep columns, field, reason)."""
    from pyspark.sql import functions

    keep = keep or []
    valid = scored.filter(functions.size(REJECTS) == 0).drop(REJECTS)
    problems = (
        scored.filter(functions.size(REJECTS) > 0)
        .select(*keep, functions.explode(REJECTS).alias("problem"))
        .select(*keep, "problem.field", "problem.reason")
    )
    return valid, problems


def score_batch(
    predictor: Predictor, batch: pa.RecordBatch, keep: list[str], untyped_text: bool
) -> pa.RecordBatch:
    """Validate and score one Arrow batch; invalid rows keep their place with nulls."""
    manifest = predictor.manifest
    result = validate_batch(manifest.inputs, batch, untyped_text)
    rows = batch.num_rows
    arrays = [batch.column(name) for name in keep]
    names = list(keep)
    invalid = ~result.valid
    if result.valid_rows:
        predictions = run_sorted(predictor, result.columns)
        labels = np.empty(rows, dtype=object)
        labels[result.valid] = predictions.labels
        arrays.append(pa.array(labels, mask=invalid, from_pandas=True))
        if predictions.probabilities is not None:
            probabilities = np.full((rows, predictions.probabilities.shape[1]), np.nan)
            probabilities[result.valid] = predictions.probabilities
            arrays += [pa.array(column, mask=invalid) for column in probabilities.T]
    else:
        arrays += [pa.nulls(rows) for _ in prediction_columns(manifest)]
    names += prediction_columns(manifest)
    problems: list[list[dict[str, str | None]]] = [[] for _ in range(rows)]
    for item in result.problems:
        assert item.row is not None
        problems[item.row].append({"field": item.field, "reason": item.message})
    problem_type = pa.struct([("field", pa.string()), ("reason", pa.string())])
    arrays.append(pa.array(problems, type=pa.list_(problem_type)))
    names.append(REJECTS)
    return pa.RecordBatch.from_arrays(arrays, names=names)


@functools.cache
def predictor_for(model_dir: str, model_format: Format) -> Predictor:
    """The artifact loaded once per Python worker: Spark reuses workers across tasks."""
    folder = _local_folder(model_dir)
    manifest = read_manifest(folder)
    return Predictor(manifest, load_runner(folder, manifest, model_format, threads=1))


def _local_folder(model_dir: str) -> Path:
    """The folder itself, or where Spark unpacked it when shipped (`--archives x.tgz#model`)."""
    path = Path(model_dir)
    if path.exists() or path.is_absolute():
        return path
    from pyspark import SparkFiles

    try:
        shipped = Path(SparkFiles.get(path.parts[0])).joinpath(*path.parts[1:])
    except Exception:  # no SparkContext or files root here: report the path as given
        return path
    return shipped if shipped.exists() else path


def _label_type(manifest: Manifest) -> Any:
    from pyspark.sql import types as spark_types

    classes = manifest.classes or []
    if classes and all(isinstance(label, bool) for label in classes):
        return spark_types.BooleanType()
    if classes and all(isinstance(label, int) for label in classes):
        return spark_types.LongType()
    if manifest.task == "regression":
        return spark_types.DoubleType()
    return spark_types.StringType()


def _read(spark: Any, location: str) -> tuple[Any, bool]:
    if location.rstrip("/").endswith(".csv"):
        # Every column as text, as the CSV source reads it: validation applies the model's types.
        return spark.read.option("header", True).csv(location), True
    if location.rstrip("/").endswith((".json", ".jsonl")):
        return spark.read.json(location), False
    return spark.read.parquet(location), False


def main(argv: list[str] | None = None) -> None:
    """spark-submit entry point: INPUT (Parquet, CSV, JSON Lines) -> OUTPUT and OUTPUT.rejects."""
    from pyspark.sql import SparkSession

    parser = argparse.ArgumentParser(description="Score a dataset with an mlvajra artifact.")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("mlvajra-score").getOrCreate()
    frame, untyped = _read(spark, args.input)
    scored = score_dataframe(frame, args.model_dir, args.keep, untyped_text=untyped).persist()
    valid, problems = split(scored, args.keep)
    valid.write.mode("overwrite").parquet(args.output)
    problems.write.mode("overwrite").parquet(args.output.rstrip("/") + ".rejects")
    total, scored_rows = scored.count(), valid.count()
    print(f"{total} rows in = {scored_rows} scored + {total - scored_rows} rejected")
    scored.unpersist()


if __name__ == "__main__":
    # Run as spark-submit's application file, this module is `__main__`, which the executors do
    # not have: the functions they call must come from the importable module (--py-files).
    from mlvajra.batch import spark

    spark.main()
