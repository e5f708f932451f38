"""Export a fitted pipeline: ONNX where it converts and agrees with scikit-learn, joblib always.

The parity rows are the evaluation rows plus synthetic rows with a null in each nullable input
(`parity.with_null_rows`), fed to every format as the service feeds it: the columns
`Predictor.columns` builds from JSON records.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from mlvajra.artifact import (
    JOBLIB_FILE,
    ONNX_FILE,
    REFERENCE_FILE,
    ConversionAttempt,
    Format,
    InputSpec,
    Loading,
    Parity,
    Precision,
    Task,
)
from mlvajra.errors import TrainingError
from mlvajra.joblib_loading import fitted_frame
from mlvajra.training.capture import loading_needs
from mlvajra.training.conversion import convert
from mlvajra.training.parity import (
    Reference,
    max_difference,
    onnx_parity,
    reference_outputs,
    save_reference,
    serving_columns,
    with_null_rows,
)

DEFAULT_TOLERANCE = 1e-6
"""Max |probability difference| (classification) or value difference over the target's scale
(regression): the rule is in `mlvajra.training.parity`."""
PRECISIONS: tuple[Precision, ...] = ("float32", "float64")
"""Graphs tried in order; the double one only when the float32 one misses the tolerance."""


@dataclass(frozen=True)
class Exported:
    """What `export_artifact` wrote into the work folder, and why that format serves."""

    format: Format
    format_reason: str | None
    parity: Parity | None
    attempts: list[ConversionAttempt] = field(default_factory=list)
    """Every ONNX graph tried, in order (the manifest's `conversion`)."""
    loading: Loading | None = None
    """What loading `model.joblib` needs (the manifest's `loading`)."""


def export_joblib(pipeline: Any, path: Path) -> None:
    """Pickle the pipeline (the fallback format, and the reference for debugging)."""
    try:
        joblib.dump(pipeline, path)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TrainingError(f"the pipeline cannot be pickled: {error}") from None


def export_artifact(
    pipeline: Any,
    inputs: list[InputSpec],
    task: Task,
    parity_frame: pd.DataFrame,
    work_dir: Path,
    tolerance: float,
) -> Exported:
    """Write the model files of a fitted pipeline into `work_dir`: joblib always (with the user's
    own modules under code/), ONNX (with the parity rows in `reference.npz`) when a graph converts
    and agrees with scikit-learn on the parity rows within `tolerance`."""
    loading = loading_needs(pipeline, parity_frame, inputs, work_dir)
    export_joblib(pipeline, work_dir / JOBLIB_FILE)
    frame = with_null_rows(parity_frame, inputs, loading.text_missing)
    columns = serving_columns(frame, inputs)
    reference = _reference(pipeline, parity_frame, frame, inputs, task)
    _check_joblib_feed(pipeline, columns, inputs, loading, reference, task)
    attempts: list[ConversionAttempt] = []
    parity: Parity | None = None
    for precision in PRECISIONS:
        graph = convert(pipeline, inputs, precision)
        if isinstance(graph, str):
            attempts.append(ConversionAttempt(precision=precision, passed=False, reason=graph))
            break  # an unsupported step is no matter of precision
        try:
            parity = onnx_parity(graph, columns, reference, task, tolerance)
        except Exception as error:  # onnxruntime refuses some graphs (e.g. a double Imputer)
            reason = f"onnxruntime cannot run the graph: {error}".splitlines()[0]
            attempts.append(ConversionAttempt(precision=precision, passed=False, reason=reason))
            continue
        attempts.append(
            ConversionAttempt(
                precision=precision,
                passed=parity.passed,
                max_difference=max_difference(parity),
                reason=parity.reason,
            )
        )
        if parity.passed:
            (work_dir / ONNX_FILE).write_bytes(graph)
            # What `mlvajra verify` checks the graph against, without unpickling anything.
            (work_dir / REFERENCE_FILE).write_bytes(save_reference(columns, inputs, reference))
            return Exported("onnx", None, parity, attempts, loading)
    # Never serve a graph that disagrees with the model that was evaluated.
    tried = "; ".join(f"{attempt.precision}: {attempt.reason}" for attempt in attempts)
    return Exported("joblib", f"{tried}; serving joblib instead", parity, attempts, loading)


def _reference(
    pipeline: Any,
    evaluation: pd.DataFrame,
    frame: pd.DataFrame,
    inputs: list[InputSpec],
    task: Task,
) -> Reference:
    """scikit-learn's outputs on `frame` (the evaluation rows, then the synthetic null rows)."""
    try:
        reference_outputs(pipeline, evaluation.iloc[:1], task)
    except Exception as error:  # the user's pipeline can raise anything
        raise TrainingError(
            f"the pipeline's predict fails on the evaluation rows: {error}"
        ) from None
    try:
        return reference_outputs(pipeline, frame, task)
    except Exception as error:
        nullable = ", ".join(spec.name for spec in inputs if spec.nullable)
        raise TrainingError(
            f"the pipeline fails on a null in a nullable input ({nullable}): {error}; impute "
            "them in the pipeline"
        ) from None


def _check_joblib_feed(
    pipeline: Any,
    columns: dict[str, np.ndarray],
    inputs: list[InputSpec],
    loading: Loading,
    reference: Reference,
    task: Task,
) -> None:
    """The frame the joblib runner rebuilds from served columns must give the evaluated outputs."""
    served = reference_outputs(pipeline, fitted_frame(columns, inputs, loading), task)
    same = bool(np.array_equal(served.labels, reference.labels))
    if same and served.probabilities is not None and reference.probabilities is not None:
        same = bool(np.allclose(served.probabilities, reference.probabilities, rtol=0, atol=1e-9))
    if not same:
        dtypes = ", ".join(f"{spec.name}: {spec.dtype}" for spec in inputs)
        raise TrainingError(
            "served as joblib, the pipeline would answer differently from its evaluation: the "
            f"frame rebuilt from the inputs' recorded dtypes ({dtypes}) is not the one it was "
            "given; record each input's pandas dtype"
        )
