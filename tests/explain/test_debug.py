"""The debug path: every step's output equals scikit-learn's own, and the contributions add up."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from mlvajra.artifact import Manifest
from mlvajra.cli import cli
from mlvajra.explain.debug import Debugger
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import JoblibRunner
from mlvajra.training.datasets import model_frame, penguins_csv, read_dataset
from tests.fixtures import REFERENCE_ROWS

RECORDS = [dict(row) for row, _ in REFERENCE_ROWS]


def _debugger(manifest: Manifest, pipeline: Any) -> Debugger:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return Debugger(manifest, JoblibRunner(buffer.getvalue(), manifest, {}))


def _penguins(manifest: Manifest) -> tuple[pd.DataFrame, pd.Series]:
    frame = read_dataset(None).frame.dropna(subset=[manifest.target])
    return model_frame(frame, manifest.inputs), frame[manifest.target]


def _fitted(manifest: Manifest, *steps: tuple[str, Any], sparse: bool = False) -> Pipeline:
    numeric = [spec.name for spec in manifest.inputs if spec.type != "string"]
    text = [spec.name for spec in manifest.inputs if spec.type == "string"]
    preprocess = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse), text),
        ]
    )
    pipeline = Pipeline([("preprocess", preprocess), *steps])
    return pipeline.fit(*_penguins(manifest))


def test_each_step_equals_scikit_learns_own_transform(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    debugger = Debugger.load(artifact_dir, manifest)
    record = dict(RECORDS[0], bill_length_mm=None, sex=None)
    explanation = debugger.explain(Predictor(manifest, debugger.runner).columns([record]))
    pipeline = joblib.load(artifact_dir / "model.joblib")
    frame = model_frame(pd.DataFrame([record]), manifest.inputs)
    assert [step.name for step in explanation.steps] == [name for name, _ in pipeline.steps[:-1]]
    for index, step in enumerate(explanation.steps):
        expected = pipeline[: index + 1].transform(frame)
        np.testing.assert_array_equal(step.values, expected)
        assert step.features == list(pipeline[: index + 1].get_feature_names_out())
    imputed = dict(zip(explanation.steps[0].features, explanation.steps[0].values[0], strict=True))
    assert (
        imputed["numeric__bill_length_mm"]
        == pipeline[0].named_transformers_["numeric"].statistics_[0]
    )
    np.testing.assert_array_equal(
        explanation.predictions.probabilities, pipeline.predict_proba(frame)
    )
    explained = explanation.contributions
    assert explained.method.startswith("exact TreeSHAP")
    assert explained.values is not None
    assert explained.base is not None
    label = explanation.predictions.labels[0]
    assert explained.explains == [f"probability of {label}"]
    total = explained.base[0] + explained.values[0].sum()
    assert total == pytest.approx(pipeline.predict_proba(frame).max(), abs=1e-9)


def test_a_linear_model_after_any_steps_gets_coefficient_times_value(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    pipeline = _fitted(
        manifest, ("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))
    )
    debugger = _debugger(manifest, pipeline)
    explanation = debugger.explain(Predictor(manifest, debugger.runner).columns(RECORDS))
    assert [step.name for step in explanation.steps] == ["preprocess", "scale"]
    scaled = explanation.steps[1].values
    np.testing.assert_allclose(
        scaled, pipeline[:2].transform(model_frame(pd.DataFrame(RECORDS), manifest.inputs))
    )
    explained = explanation.contributions
    assert explained.method == "coefficient x value for LogisticRegression, the intercept as base"
    assert explained.values is not None
    assert explained.base is not None
    model = pipeline[-1]
    chosen = [list(model.classes_).index(label) for label in explanation.predictions.labels]
    np.testing.assert_allclose(
        explained.base + explained.values.sum(axis=1),
        model.decision_function(scaled)[np.arange(len(RECORDS)), chosen],
    )


def test_gradient_boosting_is_explained_in_log_odds(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    pipeline = _fitted(manifest, ("model", HistGradientBoostingClassifier(max_iter=10)))
    debugger = _debugger(manifest, pipeline)
    explanation = debugger.explain(Predictor(manifest, debugger.runner).columns(RECORDS))
    explained = explanation.contributions
    assert "HistGradientBoostingClassifier, in log-odds" in explained.method
    assert explained.values is not None
    assert explained.base is not None
    raw = pipeline.decision_function(model_frame(pd.DataFrame(RECORDS), manifest.inputs))
    chosen = np.argmax(raw, axis=1)
    np.testing.assert_allclose(
        explained.base + explained.values.sum(axis=1), raw[np.arange(len(RECORDS)), chosen]
    )


def test_other_estimators_say_contributions_are_not_available(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    pipeline = _fitted(manifest, ("model", KNeighborsClassifier(n_neighbors=3)), sparse=True)
    debugger = _debugger(manifest, pipeline)
    explanation = debugger.explain(Predictor(manifest, debugger.runner).columns(RECORDS))
    assert explanation.contributions.method == "not available for KNeighborsClassifier"
    assert explanation.contributions.values is None
    assert list(explanation.predictions.labels) == list(
        pipeline.predict(model_frame(pd.DataFrame(RECORDS), manifest.inputs))
    )


def test_predict_debug_writes_the_steps_and_contributions(
    artifact_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "debug.csv"
    arguments = ["predict", str(penguins_csv()), str(output), "--model-dir", str(artifact_dir)]
    refused = CliRunner().invoke(cli, [*arguments, "--debug"])
    assert refused.exit_code == 1
    assert "--trust-pickle" in refused.output
    result = CliRunner().invoke(cli, [*arguments, "--debug", "--trust-pickle"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(output)
    assert len(written) == 344
    assert written["preprocess.numeric__bill_length_mm"].notna().all()
    assert len(written.filter(like="contribution.numeric__").columns) == 5
    # Base plus every contribution is the probability of the predicted class.
    total = written.filter(like="contribution.").sum(axis=1, numeric_only=True)
    probabilities = written.filter(like="probability_").max(axis=1)
    np.testing.assert_allclose(total, probabilities, atol=1e-6)
