"""Model runners: load an artifact's verified bytes and run them on input columns."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import Format, Manifest, Task, file_for, read_verified

Columns = Mapping[str, npt.NDArray[Any]]
"""Model input: one array of shape (rows, 1) per input name, as the ONNX graph takes it."""


class ModelRunner(Protocol):
    """A loaded model: columns in, raw outputs out."""

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """Return (labels or values, probabilities or None)."""
        ...


class OnnxRunner:
    """Runs the ONNX graph with onnxruntime; needs neither scikit-learn nor pandas."""

    def __init__(self, model: bytes | Path, task: Task, threads: int) -> None:
        """`model`: the graph's verified bytes (or a path, for a file this process just wrote)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads spin by default and burn the cores the other workers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The arena kept ~9 MB per worker for no measurable speed on these small graphs.
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._task = task
        self._float_inputs = {
            node.name for node in self._session.get_inputs() if node.type == "tensor(float)"
        }

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        # Trees compare in float32, as scikit-learn does after imputing in float64.
        feeds = {
            name: values.astype(np.float32) if name in self._float_inputs else values
            for name, values in columns.items()
        }
        outputs = self._session.run(None, feeds)
        if self._task == "classification":
            return outputs[0].reshape(-1), outputs[1]
        return outputs[0].reshape(-1), None


class JoblibRunner:
    """Runs the pickled scikit-learn pipeline; only ever built after its hash matched."""

    def __init__(self, data: bytes, task: Task, input_names: list[str]) -> None:
        """`data`: the pickle's bytes, hashed before they reach here."""
        import joblib

        self.pipeline: Any = joblib.load(io.BytesIO(data))
        self._task = task
        self._input_names = input_names

    def frame(self, columns: Columns) -> Any:
        """The pandas DataFrame the pipeline was fitted on, built from model input columns."""
        import pandas

        return pandas.DataFrame(
            {name: columns[name].reshape(-1) for name in self._input_names},
            columns=self._input_names,
        )

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        frame = self.frame(columns)
        if self._task == "classification":
            probabilities = self.pipeline.predict_proba(frame)
            labels = self.pipeline.classes_[np.argmax(probabilities, axis=1)]
            return labels, probabilities
        return np.asarray(self.pipeline.predict(frame)).reshape(-1), None


def load_runner(
    model_dir: Path, manifest: Manifest, model_format: Format, threads: int = 1
) -> ModelRunner:
    """Read the chosen file once, check its hash, load those bytes. Never unpickles unverified."""
    data = read_verified(model_dir, manifest, file_for(model_format))
    return build_runner(data, manifest, model_format, threads)


def build_runner(
    data: bytes, manifest: Manifest, model_format: Format, threads: int = 1
) -> ModelRunner:
    """A runner from a model file's bytes, already checked against `manifest`."""
    if model_format == "onnx":
        return OnnxRunner(data, manifest.task, threads)
    return JoblibRunner(data, manifest.task, [i.name for i in manifest.inputs])
