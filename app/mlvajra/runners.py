"""Model runners: load an artifact's verified bytes and run them on input columns."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import Format, Manifest, Task, file_for
from mlvajra.folder import read_verified
from mlvajra.joblib_loading import SourceImporter, check_loadable, fitted_frame

MATRIX_INPUT = "features"
"""The one input of a graph that takes every numeric column as one (rows, n) matrix."""

Columns = Mapping[str, npt.NDArray[Any]]
"""Model input: one array of shape (rows, 1) per input name, as the ONNX graph takes it."""


class ModelRunner(Protocol):
    """A loaded model: columns in, raw outputs out."""

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """Return (labels or values, probabilities or None)."""
        ...


class OnnxRunner:
    """Runs the ONNX graph with onnxruntime; needs neither scikit-learn nor pandas."""

    def __init__(
        self, model: bytes | Path, task: Task, threads: int, input_names: list[str] | None = None
    ) -> None:
        """`model`: the graph's verified bytes (or a path, for a file this process just wrote);
        `input_names`: the manifest's order, in which a `MATRIX_INPUT` graph takes the columns."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads spin by default and burn the cores the other workers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The CPU arena (onnxruntime's default) reuses each run's buffers: a one-record run took
        # 63-69 us with it and 73-87 us without, and the largest worker's RSS after 100 requests
        # of 1,000 records and 300 of one was 94.6 MB with it, 94.4 MB without.
        options.enable_cpu_mem_arena = True
        self._session = onnxruntime.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._task = task
        # InferenceSession.run checks on every call what holds for every feed built here (each
        # input present, numpy arrays, the CPU provider only) before it calls its C++ session:
        # that call alone took 23-49 us for one record where the checked one took 32-69 us.
        core = getattr(self._session, "_sess", None)
        self._run: Callable[[list[str], dict[str, Any], None], list[Any]] = (
            core.run if core is not None else self._session.run
        )
        self._output_names = [node.name for node in self._session.get_outputs()]
        # What each numeric input of this graph takes: float32, or float64 for a double graph.
        numeric = {"tensor(float)": np.float32, "tensor(double)": np.float64}
        self._numeric_inputs = {
            node.name: numeric[node.type]
            for node in self._session.get_inputs()
            if node.type in numeric
        }
        self._matrix = (
            input_names
            if [node.name for node in self._session.get_inputs()] == [MATRIX_INPUT]
            else None
        )

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        if self._matrix is not None:
            columns = {MATRIX_INPUT: np.hstack([columns[name] for name in self._matrix])}
        # Trees compare in float32, as scikit-learn does after imputing in float64.
        feeds = {
            name: values.astype(self._numeric_inputs[name])
            if name in self._numeric_inputs
            else values
            for name, values in columns.items()
        }
        outputs = self._run(self._output_names, feeds, None)
        if self._task == "classification":
            return outputs[0].reshape(-1), outputs[1]
        return outputs[0].reshape(-1), None


class JoblibRunner:
    """Runs the pickled scikit-learn pipeline; only ever built after its hash matched."""

    def __init__(self, data: bytes, manifest: Manifest, code: Mapping[str, bytes]) -> None:
        """`data`: the pickle's bytes and `code`: the artifact's code/ files, all hashed before
        they reach here. The code is importable only while the pickle loads."""
        check_loadable(manifest)
        import joblib

        importer = SourceImporter(code)
        with importer.installed():
            self.pipeline: Any = joblib.load(io.BytesIO(data))
        self._manifest = manifest

    def frame(self, columns: Columns) -> Any:
        """The pandas DataFrame the pipeline was fitted on, built from model input columns."""
        return fitted_frame(columns, self._manifest.inputs, self._manifest.loading)

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        frame = self.frame(columns)
        if self._manifest.task == "classification":
            probabilities = self.pipeline.predict_proba(frame)
            labels = self.pipeline.classes_[np.argmax(probabilities, axis=1)]
            return labels, probabilities
        return np.asarray(self.pipeline.predict(frame)).reshape(-1), None


def read_code(model_dir: Path, manifest: Manifest) -> dict[str, bytes]:
    """The verified bytes of the artifact's code/ files (none for most artifacts)."""
    names = manifest.loading.code if manifest.loading else []
    return {name: read_verified(model_dir, manifest, name) for name in names}


def load_runner(
    model_dir: Path, manifest: Manifest, model_format: Format, threads: int = 1
) -> ModelRunner:
    """Read the chosen file once, check its hash, load those bytes. Never unpickles unverified."""
    if model_format == "joblib":
        check_loadable(manifest)  # before reading anything: say what is missing, in one line
    data = read_verified(model_dir, manifest, file_for(model_format))
    code = read_code(model_dir, manifest) if model_format == "joblib" else {}
    return build_runner(data, manifest, model_format, threads, code)


def build_runner(
    data: bytes,
    manifest: Manifest,
    model_format: Format,
    threads: int = 1,
    code: Mapping[str, bytes] | None = None,
) -> ModelRunner:
    """A runner from a model file's bytes (and its code/ files), already checked against
    `manifest`."""
    if model_format == "onnx":
        return OnnxRunner(data, manifest.task, threads, [spec.name for spec in manifest.inputs])
    return JoblibRunner(data, manifest, code or {})
