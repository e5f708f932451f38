"""Training end to end: honest evaluation, export, parity, versions, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlvajra.artifact import JOBLIB_FILE, ONNX_FILE
from mlvajra.errors import TrainingError
from mlvajra.folder import read_manifest
from mlvajra.training.datasets import BUILTIN_SOURCE, infer_task
from mlvajra.training.schema import SchemaError, cast_columns, infer_inputs
from mlvajra.training.trainer import TrainOptions, train


def test_default_manifest_records_what_the_design_asks(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.task == "classification"
    assert manifest.format == "onnx"
    assert manifest.target == "species"
    assert manifest.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert [spec.name for spec in manifest.inputs] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    types = {spec.name: (spec.type, spec.nullable) for spec in manifest.inputs}
    assert types["island"] == ("string", False)
    assert types["sex"] == ("string", True)
    assert types["bill_length_mm"] == ("number", True)
    assert types["year"] == ("integer", False)
    assert manifest.metrics.name == manifest.baseline_metrics.name == "f1_macro"
    assert manifest.metrics.value > manifest.baseline_metrics.value
    assert manifest.training.data_source == BUILTIN_SOURCE
    assert manifest.training.rows == 344
    assert manifest.training.train_rows + manifest.training.test_rows == 344
    assert {"python", "scikit-learn", "skl2onnx", "onnxruntime"} <= set(
        manifest.training.library_versions
    )
    assert manifest.created_at.endswith("Z")


def test_default_parity_meets_the_goal(artifact_dir: Path) -> None:
    parity = read_manifest(artifact_dir).parity
    assert parity is not None
    assert parity.rows == 344 + 5 * 5 + 1  # evaluation rows + a null in each of 5 nullable inputs
    assert parity.label_agreement == 1.0
    assert parity.max_abs_probability_diff is not None
    assert parity.max_abs_probability_diff <= 1e-6
    assert parity.passed


def test_versions_count_up_and_never_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "tiny.csv"
    _classification_frame(120).to_csv(data, index=False)
    first = train(TrainOptions(data=data, target="label", models_root=tmp_path / "m")).folder
    second = train(TrainOptions(data=data, target="label", models_root=tmp_path / "m")).folder
    assert (first.name, second.name) == ("1", "2")
    with pytest.raises(TrainingError, match="already exists"):
        train(TrainOptions(data=data, target="label", models_root=tmp_path / "m", version="1"))
    assert not [p for p in (tmp_path / "m" / "tiny").iterdir() if p.name.startswith(".")]


def test_regression_from_parquet_is_inferred(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    frame = pd.DataFrame(
        {
            "x": x,
            "color": rng.choice(["red", "blue", None], size=300),
            "y": 3.0 * x + rng.normal(scale=0.1, size=300),
        }
    )
    data = tmp_path / "reg.parquet"
    frame.to_parquet(data)
    folder = train(TrainOptions(data=data, target="y", models_root=tmp_path / "m")).folder
    manifest = read_manifest(folder)
    assert manifest.task == "regression"
    assert manifest.metrics.name == "rmse"
    assert manifest.metrics.value < manifest.baseline_metrics.value
    assert manifest.classes is None
    assert manifest.parity is not None
    assert manifest.parity.max_abs_value_diff is not None


def test_model_that_loses_to_the_baseline_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    # 90 % "a" and a feature of pure noise: the majority baseline cannot be beaten honestly.
    labels = rng.choice(["a", "b"], 200, p=[0.9, 0.1])
    frame = pd.DataFrame({"noise": rng.normal(size=200), "label": labels})
    data = tmp_path / "noise.csv"
    frame.to_csv(data, index=False)
    options = TrainOptions(data=data, target="label", models_root=tmp_path / "m", metric="accuracy")
    with pytest.raises(TrainingError, match="does not beat the baseline"):
        train(options)
    assert not (tmp_path / "m" / "noise" / "1").exists()
    relaxed = TrainOptions(**{**options.__dict__, "allow_worse_than_baseline": True})
    assert (train(relaxed).folder / "manifest.json").is_file()


def test_parity_failure_falls_back_to_joblib(tmp_path: Path) -> None:
    folder = train(TrainOptions(models_root=tmp_path, parity_tolerance=0.0)).folder
    manifest = read_manifest(folder)
    assert manifest.format == "joblib"
    assert manifest.format_reason is not None
    assert "tolerance" in manifest.format_reason
    assert not (folder / ONNX_FILE).exists()
    assert set(manifest.files) == {JOBLIB_FILE}


def test_inference_of_types_and_task() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.5, None, 2.0],
            "i": [1, 2, 3],
            "b": [True, False, True],
            "s": ["a", None, "b"],
            "t": [0, 1, 0],
        }
    )
    specs = {spec.name: spec for spec in infer_inputs(frame.drop(columns="t"))}
    assert (specs["n"].type, specs["n"].nullable) == ("number", True)
    assert specs["i"].type == "integer"
    assert specs["b"].type == "boolean"
    assert (specs["s"].type, specs["s"].categories) == ("string", ["a", "b"])
    assert infer_task(frame["t"]) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    cast = cast_columns(frame.drop(columns="t"), categorical=["i"])
    overridden = {spec.name: spec for spec in infer_inputs(cast)}
    assert overridden["i"].type == "string"
    with pytest.raises(SchemaError, match="column 'missing' not found"):
        infer_inputs(frame, nullable=["missing"])


def _classification_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    x = rng.normal(size=rows)
    return pd.DataFrame({"x": x, "label": np.where(x > 0, "pos", "neg")})
