"""Parity: scikit-learn's outputs on the parity rows, and how far a graph is from them.

Tolerance rule: classification compares probabilities as absolute differences; regression divides
the absolute difference by the target's scale on the parity rows (the largest |value|, at least
1), so float32's ~1e-7 relative error passes for targets in the thousands as it does near 1.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlvajra.artifact import REFERENCE_FILE, InputSpec, Parity, Task, TextMissing
from mlvajra.errors import VerificationError
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.runners import Columns, OnnxRunner

NULL_ROWS_PER_INPUT = 5
"""Synthetic parity rows per nullable input: copies of the first evaluation rows with it null."""


@dataclass(frozen=True)
class Reference:
    """scikit-learn's outputs on the parity rows: labels (or values) and probabilities."""

    labels: np.ndarray
    probabilities: np.ndarray | None


def reference_outputs(pipeline: Any, frame: pd.DataFrame, task: Task) -> Reference:
    """What the fitted pipeline answers for every row of `frame`."""
    if task == "classification":
        return Reference(np.asarray(pipeline.predict(frame)), pipeline.predict_proba(frame))
    return Reference(np.asarray(pipeline.predict(frame), dtype=np.float64).reshape(-1), None)


def with_null_rows(
    frame: pd.DataFrame, inputs: list[InputSpec], text_missing: dict[str, TextMissing]
) -> pd.DataFrame:
    """`frame` plus, for each nullable input, a few of its rows with that input null, and one row
    with every nullable input null: the nulls in the dtype and form the pipeline was fitted on."""
    nullable = [spec for spec in inputs if spec.nullable]
    if not nullable:
        return frame
    head = frame.iloc[:NULL_ROWS_PER_INPUT]
    extra = []
    for spec in nullable:
        copy = head.copy()
        copy[spec.name] = _nulls(copy[spec.name], spec, text_missing.get(spec.name))
        extra.append(copy)
    every = head.iloc[:1].copy()
    for spec in nullable:
        every[spec.name] = _nulls(every[spec.name], spec, text_missing.get(spec.name))
    extra.append(every)
    return pd.concat([frame, *extra], ignore_index=True)


def _nulls(column: pd.Series, spec: InputSpec, missing: TextMissing | None) -> pd.Series:
    if spec.dtype is None and spec.type == "string":  # the built-in pipeline's marker
        return pd.Series(MISSING_CATEGORY, index=column.index, dtype=column.dtype)
    if column.dtype.kind in "biu":  # numpy bool and int hold no null: NaN makes them float
        return pd.Series(np.nan, index=column.index)
    value = None if missing == "none" else np.nan
    return pd.Series([value] * len(column), index=column.index, dtype=column.dtype)


def serving_columns(frame: pd.DataFrame, inputs: list[InputSpec]) -> dict[str, np.ndarray]:
    """The (rows, 1) columns `Predictor.columns` builds for the same records: float64 numbers
    (null -> NaN), text (null -> the missing marker)."""
    columns: dict[str, np.ndarray] = {}
    for spec in inputs:
        column = frame[spec.name]
        if spec.type == "string":
            values = np.array(
                [
                    MISSING_CATEGORY if _is_null(value) else str(value)
                    for value in column.astype(object)
                ],
                dtype=object,
            )
        else:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        columns[spec.name] = values.reshape(-1, 1)
    return columns


def _is_null(value: object) -> bool:
    return value is None or bool(pd.isna(value))


def save_reference(columns: Columns, inputs: list[InputSpec], reference: Reference) -> bytes:
    """The parity columns and `reference` as a .npz of plain arrays (never pickled objects)."""
    arrays = {
        f"input_{index}": _plain(columns[spec.name].reshape(-1))
        for index, spec in enumerate(inputs)
    }
    arrays["labels"] = _plain(reference.labels)
    if reference.probabilities is not None:
        arrays["probabilities"] = np.asarray(reference.probabilities, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


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


def _plain(values: np.ndarray) -> np.ndarray:
    """Object arrays (text, mixed labels) as fixed-width unicode: savable without pickle."""
    return np.asarray(values.tolist()) if values.dtype == object else values


def _column(values: np.ndarray, spec: InputSpec) -> np.ndarray:
    if spec.type == "string":
        return values.astype(object).reshape(-1, 1)
    return values.astype(np.float64).reshape(-1, 1)


def _same_labels(found: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Elementwise label equality: numbers (and bools) as numbers, anything else as text (a
    saved label array is unicode where the graph gives objects)."""
    if found.dtype.kind in "biuf" and expected.dtype.kind in "biuf":
        return np.asarray(found.astype(np.float64) == expected.astype(np.float64))
    return np.asarray(found.astype(str) == expected.astype(str))


def onnx_parity(
    onnx: bytes, columns: Columns, reference: Reference, task: Task, tolerance: float
) -> Parity:
    """Run the ONNX graph on `columns` and compare its outputs with `reference`."""
    outputs = OnnxRunner(onnx, task, threads=1, input_names=list(columns)).run(columns)
    return compare(outputs, reference, task, tolerance)


def compare(
    outputs: tuple[np.ndarray, np.ndarray | None],
    reference: Reference,
    task: Task,
    tolerance: float,
) -> Parity:
    """Parity of a runner's `outputs` with scikit-learn's `reference` on the same rows."""
    labels, probabilities = outputs
    rows = len(labels)
    if task == "classification":
        expected = np.asarray(reference.probabilities, dtype=np.float64)
        agreement = float(np.mean(_same_labels(labels, reference.labels)))
        found = np.asarray(probabilities, dtype=np.float64)
        max_diff = float(np.max(np.abs(found - expected))) if found.shape == expected.shape else 1.0
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
    expected_values = np.asarray(reference.labels, dtype=np.float64).reshape(-1)
    diff = np.abs(labels.astype(np.float64).reshape(-1) - expected_values)
    scale = max(1.0, float(np.max(np.abs(expected_values))))
    relative = float(np.max(diff)) / scale
    passed = relative <= tolerance
    return Parity(
        rows=rows,
        max_abs_value_diff=float(np.max(diff)),
        max_relative_value_diff=relative,
        tolerance=tolerance,
        passed=passed,
        reason=None
        if passed
        else f"onnxruntime disagrees with scikit-learn: max value difference {relative:.3g} "
        f"of the target's scale {scale:.3g} > tolerance {tolerance:g}",
    )


def max_difference(parity: Parity) -> float | None:
    """The figure the tolerance was applied to."""
    if parity.max_abs_probability_diff is not None:
        return parity.max_abs_probability_diff
    return parity.max_relative_value_diff
