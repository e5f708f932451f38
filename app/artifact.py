"""The artifact on disk: manifest, file hashes, and the model runners that load it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_NAME = "manifest.json"
ONNX_FILE = "model.onnx"
JOBLIB_FILE = "model.joblib"
MISSING_CATEGORY = "__missing__"
"""What a missing (null) categorical value becomes before it reaches either model format."""

Format = Literal["onnx", "joblib"]
Task = Literal["classification", "regression"]
InputType = Literal["number", "integer", "string", "boolean"]


class ArtifactError(Exception):
    """The artifact cannot be served; the message is one line that says why."""


class InputSpec(BaseModel):
    """One raw input column of the pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: InputType
    nullable: bool
    categories: list[str] | None = None


class Metrics(BaseModel):
    """A metric measured on held-out data, with its cross-validation figures."""

    name: str
    value: float
    cv_mean: float | None = None
    cv_std: float | None = None


class Parity(BaseModel):
    """Agreement between scikit-learn and onnxruntime on the same rows."""

    rows: int
    label_agreement: float | None = None
    max_abs_probability_diff: float | None = None
    max_abs_value_diff: float | None = None
    tolerance: float
    passed: bool
    reason: str | None = None


class Training(BaseModel):
    """Where the model came from."""

    data_source: str
    rows: int
    data_sha256: str
    train_rows: int
    test_rows: int
    seed: int
    estimator: str
    library_versions: dict[str, str]


class Manifest(BaseModel):
    """Everything the service needs to know about one artifact version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    task: Task
    format: Format
    created_at: str
    files: dict[str, str]
    inputs: list[InputSpec] = Field(min_length=1)
    target: str
    classes: list[str | int | bool] | None = None
    metrics: Metrics
    baseline_metrics: Metrics
    parity: Parity | None = None
    format_reason: str | None = None
    training: Training

    def sha256(self, model_format: Format) -> str:
        """The hash of the file that serves `model_format`."""
        return self.files[file_for(model_format)]


def file_for(model_format: Format) -> str:
    """The artifact file that holds a format."""
    return ONNX_FILE if model_format == "onnx" else JOBLIB_FILE


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> Manifest:
    """Parse `manifest.json` of an artifact folder or raise `ArtifactError`."""
    path = model_dir / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ArtifactError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ArtifactError(f"invalid manifest {path}: {where}: {first['msg']}") from None


def verify_files(model_dir: Path, manifest: Manifest, names: list[str] | None = None) -> None:
    """Check the sha256 of every listed file (or only `names`) against the manifest."""
    for name in names if names is not None else list(manifest.files):
        expected = manifest.files.get(name)
        if expected is None:
            raise ArtifactError(f"{name} is not listed in the manifest of {model_dir}")
        path = model_dir / name
        if not path.is_file():
            raise ArtifactError(f"missing artifact file {path}")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"sha256 mismatch for {path}: manifest {expected[:12]}..., file {actual[:12]}..."
            )


Columns = Mapping[str, npt.NDArray[Any]]
"""Model input: one array of shape (rows, 1) per input name, as the ONNX graph takes it."""


class ModelRunner(Protocol):
    """A loaded model: columns in, raw outputs out."""

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """Return (labels or values, probabilities or None)."""
        ...


class OnnxRunner:
    """Runs the ONNX graph with onnxruntime; needs neither scikit-learn nor pandas."""

    def __init__(self, path: Path, task: Task, threads: int) -> None:
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
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
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

    def __init__(self, path: Path, task: Task, input_names: list[str]) -> None:
        import joblib

        self._pipeline = joblib.load(path)
        self._task = task
        self._input_names = input_names

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        import pandas

        frame = pandas.DataFrame(
            {name: columns[name].reshape(-1) for name in self._input_names},
            columns=self._input_names,
        )
        if self._task == "classification":
            probabilities = self._pipeline.predict_proba(frame)
            labels = self._pipeline.classes_[np.argmax(probabilities, axis=1)]
            return labels, probabilities
        return np.asarray(self._pipeline.predict(frame)).reshape(-1), None


def load_runner(
    model_dir: Path, manifest: Manifest, model_format: Format, threads: int = 1
) -> ModelRunner:
    """Verify the chosen file's hash, then load it. Never unpickles an unverified file."""
    file_name = file_for(model_format)
    verify_files(model_dir, manifest, [file_name])
    if model_format == "onnx":
        return OnnxRunner(model_dir / file_name, manifest.task, threads)
    return JoblibRunner(model_dir / file_name, manifest.task, [i.name for i in manifest.inputs])
