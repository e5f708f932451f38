"""Export a fitted pipeline: ONNX where it converts and agrees with scikit-learn, joblib always."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from mlvajra.artifact import JOBLIB_FILE, ONNX_FILE, REFERENCE_FILE, Format, InputSpec, Parity, Task
from mlvajra.errors import VerificationError
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


@dataclass(frozen=True)
class Reference:
    """scikit-learn's outputs on the parity rows: labels (or values) and probabilities."""

    labels: np.ndarray
    probabilities: np.ndarray | None


def reference_outputs(pipeline: Pipeline, frame: pd.DataFrame, task: Task) -> Reference:
    """What the fitted pipeline answers for every row of `frame`."""
    if task == "classification":
        return Reference(np.asarray(pipeline.predict(frame)), pipeline.predict_proba(frame))
    return Reference(np.asarray(pipeline.predict(frame), dtype=np.float64), None)


def save_reference(
    path: Path, frame: pd.DataFrame, inputs: list[InputSpec], reference: Reference
) -> None:
    """Write the parity rows and `reference` as a .npz of plain arrays (never pickled objects)."""
    arrays = {
        f"input_{index}": _plain(frame[spec.name].to_numpy()) for index, spec in enumerate(inputs)
    }
    arrays["labels"] = _plain(reference.labels)
    if reference.probabilities is not None:
        arrays["probabilities"] = np.asarray(reference.probabilities, dtype=np.float64)
    with path.open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)


def load_reference(
    data: bytes, inputs: list[InputSpec], task: Task
) -> tuple[dict[str, np.ndarray], Reference]:
    """The model input columns and the reference outputs saved by `save_reference`."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            columns = {
                spec.name: _column(saved[f"input_{index}"], spec)
                for index, spec in enumerate(inputs)
            }
            probabilities = saved["probabilities"] if task == "classification" else None
            return columns, Reference(saved["labels"], probabilities)
    except (ValueError, KeyError, OSError) as error:
        raise VerificationError(f"unreadable {REFERENCE_FILE}: {error}") from None


def _same_labels(found: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Elementwise label equality: numbers (and bools) as numbers, anything else as text (a
    saved label array is unicode where the graph gives objects)."""
    if found.dtype.kind in "biuf" and expected.dtype.kind in "biuf":
        return np.asarray(found.astype(np.float64) == expected.astype(np.float64))
    return np.asarray(found.astype(str) == expected.astype(str))


def _plain(values: np.ndarray) -> np.ndarray:
    """Object arrays (text, mixed labels) as fixed-width unicode: savable without pickle."""
    return np.asarray(values.tolist()) if values.dtype == object else values


def _column(values: np.ndarray, spec: InputSpec) -> np.ndarray:
    if spec.type == "string":
        return values.astype(object).reshape(-1, 1)
    return values.astype(np.float64).reshape(-1, 1)


def onnx_parity(
    onnx: bytes | Path,
    columns: dict[str, np.ndarray],
    reference: Reference,
    task: Task,
    tolerance: float,
) -> Parity:
    """Run the ONNX graph on `columns` and compare its outputs with `reference`."""
    outputs = OnnxRunner(onnx, task, threads=1).run(columns)
    return compare(outputs, reference, task, tolerance)


def compare(
    outputs: tuple[np.ndarray, np.ndarray | None],
    reference: Reference,
    task: Task,
    tolerance: float,
) -> Parity:
    """Parity of onnxruntime's `outputs` with scikit-learn's `reference` on the same rows."""
    labels, probabilities = outputs
    rows = len(labels)
    if task == "classification":
        expected = np.asarray(reference.probabilities, dtype=np.float64)
        agreement = float(np.mean(_same_labels(labels, reference.labels)))
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
    expected_values = np.asarray(reference.labels, dtype=np.float64)
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


@dataclass(frozen=True)
class Exported:
    """What `export_artifact` wrote into the work folder, and why that format serves."""

    format: Format
    format_reason: str | None
    parity: Parity | None


def export_artifact(
    pipeline: Pipeline,
    inputs: list[InputSpec],
    task: Task,
    parity_frame: pd.DataFrame,
    work_dir: Path,
    tolerance: float,
) -> Exported:
    """Write the model files of a fitted pipeline into `work_dir`: joblib always, ONNX (with the
    parity rows in `reference.npz`) when it converts and agrees with scikit-learn on
    `parity_frame` (the held-out rows, as the pipeline takes them)."""
    export_joblib(pipeline, work_dir / JOBLIB_FILE)
    format_reason = export_onnx(pipeline, inputs, work_dir / ONNX_FILE)
    if format_reason is not None:
        return Exported(format="joblib", format_reason=format_reason, parity=None)
    reference = reference_outputs(pipeline, parity_frame, task)
    parity = onnx_parity(
        work_dir / ONNX_FILE, frame_columns(parity_frame, inputs), reference, task, tolerance
    )
    if not parity.passed:
        # Never serve a model that disagrees with the one that was evaluated.
        (work_dir / ONNX_FILE).unlink()
        return Exported(
            format="joblib", format_reason=f"{parity.reason}; serving joblib instead", parity=parity
        )
    # What `mlvajra verify` checks the graph against, without unpickling anything.
    save_reference(work_dir / REFERENCE_FILE, parity_frame, inputs, reference)
    return Exported(format="onnx", format_reason=None, parity=parity)
