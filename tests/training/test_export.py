"""Conversion attempts, tolerances and what each format is fed, on tiny real pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from mlvajra.artifact import InputSpec
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.training.parity import Reference, compare
from tests.training.user_pipelines import NUMBER_INPUTS, numbers, write_artifact


@pytest.mark.parametrize(
    "model",
    [
        LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1),
        XGBClassifier(n_estimators=10, n_jobs=1),
    ],
    ids=["lightgbm", "xgboost"],
)
def test_boosted_trees_convert_with_onnxmltools(model: Any, tmp_path: Path) -> None:
    frame = numbers(200)
    model.fit(frame[["a", "b"]], (frame["y"] == "yes").astype(int))
    folder = write_artifact(
        model, frame[["a", "b"]], NUMBER_INPUTS, "classification", tmp_path / "m"
    )
    manifest = read_manifest(folder)
    assert manifest.format == "onnx", manifest.format_reason
    assert [(a.precision, a.passed) for a in manifest.conversion] == [("float32", True)]


def test_a_double_graph_serves_where_float32_misses_the_tolerance(tmp_path: Path) -> None:
    frame = numbers(200)
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(frame[["a", "b"]], frame["value"])
    # float32 is ~1e-7 of the target's scale off; 1e-9 needs the double graph.
    folder = write_artifact(
        pipeline, frame[["a", "b"]], NUMBER_INPUTS, "regression", tmp_path / "m", tolerance=1e-9
    )
    manifest = read_manifest(folder)
    assert manifest.format == "onnx", manifest.format_reason
    first, second = manifest.conversion
    assert (first.precision, first.passed, second.precision, second.passed) == (
        "float32",
        False,
        "float64",
        True,
    )
    assert first.max_difference is not None
    assert first.max_difference > 1e-9
    assert first.reason is not None
    assert "target's scale" in first.reason
    # The service's runner feeds that graph float64: its answers are scikit-learn's to 1e-12.
    predictor = Predictor(manifest, load_runner(folder, manifest, "onnx"))
    records = frame[["a", "b"]].head(20).to_dict("records")
    served = predictor.run(records).labels
    expected = pipeline.predict(frame[["a", "b"]].head(20))
    assert np.max(np.abs(served - expected)) / np.max(np.abs(expected)) < 1e-12


def test_regression_differences_are_relative_to_the_targets_scale() -> None:
    expected = np.array([5000.0, 0.5])
    # 1e-4 off a value of 0.5 is 2e-8 of a target in the thousands: float32 noise, not a miss.
    found = expected + np.array([1e-3, 1e-4])
    parity = compare((found, None), Reference(expected, None), "regression", 1e-6)
    assert parity.passed, parity.reason
    assert parity.max_relative_value_diff == pytest.approx(1e-3 / 5000)
    assert not compare((found * 1.01, None), Reference(expected, None), "regression", 1e-6).passed


def _user_frame(rows: int) -> pd.DataFrame:
    """Columns in the dtypes a notebook has: category, nullable Int64, bool, text with None."""
    generator = np.random.default_rng(1)
    colour = generator.choice(["red", "green", "blue"], size=rows)
    count = pd.array(generator.integers(0, 9, size=rows), dtype="Int64")
    count[::7] = pd.NA
    flag = generator.random(rows) > 0.5
    city = np.array(generator.choice(["oslo", "rome"], size=rows), dtype=object)
    city[::5] = None
    return pd.DataFrame(
        {
            "colour": pd.Categorical(colour, categories=["blue", "green", "red"]),
            "count": count,
            "flag": flag,
            "city": pd.Series(city, dtype=object),
        }
    )


USER_INPUTS = [
    InputSpec(
        name="colour",
        type="string",
        nullable=False,
        categories=["blue", "green", "red"],
        dtype="category",
    ),
    InputSpec(name="count", type="integer", nullable=True, dtype="Int64"),
    InputSpec(name="flag", type="boolean", nullable=False, dtype="bool"),
    InputSpec(
        name="city", type="string", nullable=True, categories=["oslo", "rome"], dtype="object"
    ),
]


def _user_pipeline() -> Any:
    """A user's own preprocessing: its text imputer expects None, not mlvajra's marker."""
    text = make_pipeline(
        SimpleImputer(missing_values=None, strategy="constant", fill_value="nowhere"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    return make_pipeline(
        ColumnTransformer(
            [
                ("colour", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                ("count", SimpleImputer(strategy="mean"), ["count"]),
                ("flag", "passthrough", ["flag"]),
                ("city", text, ["city"]),
            ]
        ),
        LogisticRegression(),
    )


def test_the_joblib_runner_feeds_the_dtypes_the_pipeline_was_fitted_with(tmp_path: Path) -> None:
    frame = _user_frame(120)
    target = np.where((frame["colour"] == "red") | frame["flag"], "a", "b")
    pipeline = _user_pipeline().fit(frame, target)
    folder = write_artifact(pipeline, frame, USER_INPUTS, "classification", tmp_path / "m")
    manifest = read_manifest(folder)
    assert manifest.format == "joblib"  # skl2onnx has no None imputer for text
    assert manifest.loading is not None
    assert manifest.loading.text_missing == {"city": "none"}
    assert not manifest.conversion[0].passed
    records: list[dict[str, Any]] = [
        {"colour": "red", "count": None, "flag": False, "city": None},
        {"colour": "blue", "count": 3, "flag": True, "city": "rome"},
        {"colour": "green", "count": 8, "flag": False, "city": "paris"},
    ]
    predictor = Predictor(manifest, load_runner(folder, manifest, "joblib"))
    served = predictor.run(records)
    own = pd.DataFrame(
        {
            "colour": pd.Categorical(["red", "blue", "green"], categories=["blue", "green", "red"]),
            "count": pd.array([None, 3, 8], dtype="Int64"),
            "flag": [False, True, False],
            "city": pd.Series([None, "rome", "paris"], dtype=object),
        }
    )
    assert served.probabilities is not None
    np.testing.assert_array_equal(served.probabilities, pipeline.predict_proba(own))
    assert served.labels.tolist() == pipeline.predict(own).tolist()
