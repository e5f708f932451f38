"""Export a fitted pipeline: ONNX where it converts and agrees with scikit-learn, joblib always."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from mlvajra.artifact import InputSpec, Parity, Task
from mlvajra.runners import OnnxRunner

DEFAULT_TOLERANCE = 1e-6
"""Max |probability difference| (classification) or relative value difference (regression)."""


def frame_columns(frame: pd.DataFrame, inputs: list[InputSpec]) -> dict[str, np.ndarray]:
    """Model input columns of shape (rows, 1), the same layout the service's predictor builds."""
    return {spec.name: frame[spec.name].to_numpy().reshape(-1, 1) for spec in inputs}


def export_onnx(pipeline: Pipeline, inputs: list[InputSpec], path: Path) -> str | None:
    """Write the ONNX graph; return None, or why the pipeline does not convert."""
    initial_types: list[tuple[str, Any]] = [
        (
            spec.name,
            StringTensorType([None, 1]) if spec.type == "string" else FloatTensorType([None, 1]),
        )
        for spec in inputs
    ]
    # Probabilities as one tensor: ZipMap's list of dicts is slow and needs unpacking.
    model = pipeline.steps[-1][1]
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    try:
        graph = to_onnx(pipeline, initial_types=initial_types, options=options)
    except Exception as error:  # skl2onnx raises many types for unsupported pieces
        first_line = f"{type(error).__name__}: {error}".splitlines()[0]
        return f"skl2onnx cannot convert this pipeline: {first_line}"
    path.write_bytes(graph.SerializeToString())
    return None


def measure_parity(
    pipeline: Pipeline,
    onnx_path: Path,
    frame: pd.DataFrame,
    inputs: list[InputSpec],
    task: Task,
    tolerance: float,
) -> Parity:
    """Compare scikit-learn and onnxruntime on every row of `frame`."""
    runner = OnnxRunner(onnx_path, task, threads=1)
    labels, probabilities = runner.run(frame_columns(frame, inputs))
    rows = len(frame)
    if task == "classification":
        expected = pipeline.predict_proba(frame)
        agreement = float(np.mean(labels == pipeline.predict(frame)))
        max_diff = float(np.max(np.abs(np.asarray(probabilities, dtype=np.float64) - expected)))
        passed = agreement == 1.0 and max_diff <= tolerance
        reason = (
            None
            if passed
            else f"onnxruntime disagrees with scikit-learn: label agreement {agreement:.4f}, "
            f"max |probability difference| {max_diff:.3g} > tolerance {tolerance:g}"
        )
        return Parity(
            rows=rows,
            label_agreement=agreement,
            max_abs_probability_diff=max_diff,
            tolerance=tolerance,
            passed=passed,
            reason=reason,
        )
    expected_values = np.asarray(pipeline.predict(frame), dtype=np.float64)
    diff = np.abs(labels.astype(np.float64) - expected_values)
    relative = float(np.max(diff / np.maximum(1.0, np.abs(expected_values))))
    passed = relative <= tolerance
    return Parity(
        rows=rows,
        max_abs_value_diff=float(np.max(diff)),
        tolerance=tolerance,
        passed=passed,
        reason=None
        if passed
        else f"onnxruntime disagrees with scikit-learn: max relative value difference "
        f"{relative:.3g} > tolerance {tolerance:g}",
    )


def export_joblib(pipeline: Pipeline, path: Path) -> None:
    """Pickle the pipeline (the fallback format, and the reference for debugging)."""
    joblib.dump(pipeline, path)
