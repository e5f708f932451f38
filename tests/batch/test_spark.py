"""Spark scores with the same artifact and validation as the service; no row is lost."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from mlvajra.batch.spark import REJECTS, main, score_dataframe, split
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.serving.codec import PredictCodec
from tests.fixtures import REFERENCE_ROWS

# pyspark 4.x warns on pandas 3 whenever it checks for pandas; the Arrow path used here is fine.
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas >= 3.0.0:FutureWarning"
)

VALID = [row for row, _ in REFERENCE_ROWS]
COLUMNS = list(VALID[0])


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the whole test session: loopback only, no UI, two threads."""
    # Python workers must be this interpreter (it has the app, pyarrow and onnxruntime).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlvajra-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def _api(artifact_dir: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    manifest = read_manifest(artifact_dir)
    codec = PredictCodec(Predictor(manifest, load_runner(artifact_dir, manifest, "onnx")), 100)
    body, _ = codec.predict(orjson.dumps({"instances": rows}), "spark")
    answers: list[dict[str, Any]] = orjson.loads(body)["predictions"]
    return answers


def test_a_dataframe_is_scored_and_rejects_are_kept(
    spark: SparkSession, artifact_dir: Path
) -> None:
    rows = [VALID[0], VALID[1] | {"island": None}, VALID[1], VALID[2], VALID[0] | {"sex": None}]
    frame = spark.createDataFrame([{"id": index, **row} for index, row in enumerate(rows * 20)])
    scored = score_dataframe(frame, artifact_dir, keep=["id"]).cache()
    valid, problems = split(scored, keep=["id"])
    got = {row["id"]: row.asDict() for row in valid.collect()}
    rejected = sorted(tuple(r) for r in problems.collect())
    assert rejected == [(index, "island", "must be a string") for index in range(1, 100, 5)]
    assert len(got) + len({index for index, _, _ in rejected}) == 100
    expected = _api(artifact_dir, [rows[i] for i in (0, 2, 3, 4)])
    for index, answer in zip((0, 2, 3, 4), expected, strict=True):
        row = got[index]
        assert row["label"] == answer["label"]
        for label, probability in answer["probabilities"].items():
            assert row[f"probability_{label}"] == pytest.approx(probability, abs=1e-6)
    assert REJECTS not in valid.columns


def test_csv_text_is_judged_as_the_batch_cli_judges_it(
    spark: SparkSession, artifact_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    lines = ["id," + ",".join(COLUMNS)]
    for index, row in enumerate(VALID):
        lines.append(f"{index}," + ",".join(str(row[c]) for c in COLUMNS))
    lines.append(lines[1].replace("0,", "3,", 1).replace("39.1", "abc"))
    path.write_text("\n".join(lines) + "\n")
    frame = spark.read.option("header", True).csv(str(path))
    scored = score_dataframe(frame, artifact_dir, keep=["id"], untyped_text=True)
    valid, problems = split(scored, keep=["id"])
    assert [tuple(r) for r in problems.collect()] == [("3", "bill_length_mm", "must be a number")]
    labels = {row["id"]: row["label"] for row in valid.collect()}
    assert labels == {str(i): label for i, (_, label) in enumerate(REFERENCE_ROWS)}


def _loads_in_worker(model_dir: str) -> Any:
    def report(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from mlvajra.batch.spark import predictor_for

        for _ in batches:
            pass
        loads = predictor_for.cache_info().misses
        yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "loads": [loads]})

    return report


def test_the_artifact_is_loaded_once_per_worker(spark: SparkSession, artifact_dir: Path) -> None:
    rows = [{"id": index, **VALID[index % 3]} for index in range(60)]
    frame = spark.createDataFrame(rows).repartition(6)
    assert len(score_dataframe(frame, artifact_dir, keep=["id"]).collect()) == 60
    # Six tasks on two threads: the reused Python workers loaded the artifact once, not per task.
    probe = frame.mapInArrow(_loads_in_worker(str(artifact_dir)), "pid long, loads long")
    loads = {row["pid"]: row["loads"] for row in probe.collect()}
    assert max(loads.values()) == 1, loads


def test_the_spark_submit_entry_point(
    spark: SparkSession, artifact_dir: Path, tmp_path: Path
) -> None:
    rows = [{"id": index, **VALID[index % 3]} for index in range(9)]
    rows[4]["island"] = None
    spark.createDataFrame(rows).write.parquet(str(tmp_path / "in.parquet"))
    output = tmp_path / "scored"
    main(
        [
            "--model-dir",
            str(artifact_dir),
            "--keep",
            "id",
            str(tmp_path / "in.parquet"),
            str(output),
        ]
    )
    scored = spark.read.parquet(str(output))
    rejects = spark.read.parquet(f"{output}.rejects")
    assert sorted(row["id"] for row in scored.collect()) == [0, 1, 2, 3, 5, 6, 7, 8]
    assert [tuple(row) for row in rejects.collect()] == [(4, "island", "must be a string")]
