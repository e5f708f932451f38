"""The artifact on disk: the manifest, its file hashes, and reading and checking both."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlvajra.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
ONNX_FILE = "model.onnx"
JOBLIB_FILE = "model.joblib"
REFERENCE_FILE = "reference.npz"
"""The parity rows' inputs and scikit-learn's outputs for them, saved without pickle: `mlvajra
verify` compares the ONNX graph with them and never has to unpickle the pipeline."""

Format = Literal["onnx", "joblib"]
Task = Literal["classification", "regression"]
InputType = Literal["number", "integer", "string", "boolean"]


class InputSpec(BaseModel):
    """One raw input column of the pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: InputType
    nullable: bool
    categories: list[str] | None = None
    dtype: str | None = None
    """The pandas dtype the pipeline was fitted with ("float64", "Int64", "category", ...), so a
    runner can rebuild the frame it expects; None for artifacts of mlvajra's built-in pipeline
    (float64 numbers, text with the missing marker)."""


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


class FeatureReference(BaseModel):
    """The training distribution of one input (or of the predictions) over fixed bins.

    `numeric`: bins `below`, `b0`..`b{k-1}` (edges[i] <= x < edges[i+1], the last closed at the
    maximum), `above`; `categorical`: one bin per kept category (`categories`, or `values` for a
    number with few distinct values), then `__other__`. `__missing__` ends both when nullable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["numeric", "categorical"]
    edges: list[float] | None = None
    categories: list[str] | None = None
    values: list[float] | None = None
    bins: list[str] = Field(min_length=2)
    ratios: list[float]
    """Smoothed training shares, one per bin, none zero."""
    min_count: int
    """Live values a window needs before its PSI means anything (no-drift 99th pct < watch)."""
    heldout_psi: float | None = None
    """PSI of the held-out rows against this reference: a self-check of split and binning."""


class Reference(BaseModel):
    """The reference profile drift is measured against: written at training, served with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int
    smoothing: float
    psi_watch: float
    psi_act: float
    features: dict[str, FeatureReference]
    prediction: FeatureReference


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
    reference: Reference | None = None
    """The drift reference; artifacts written before it existed serve without drift metrics."""

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


def read_verified(model_dir: Path, manifest: Manifest, name: str) -> bytes:
    """The bytes of one listed file, read once and checked against the manifest's sha256.

    Load from these bytes, never from the path again: a file swapped after the check would be
    loaded unverified.
    """
    expected = manifest.files.get(name)
    if expected is None:
        raise ArtifactError(f"{name} is not listed in the manifest of {model_dir}")
    path = model_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"missing artifact file {path}") from None
    except OSError as error:
        raise ArtifactError(f"cannot read {path}: {error.strerror or error}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ArtifactError(
            f"sha256 mismatch for {path}: manifest {expected[:12]}..., file {actual[:12]}..."
        )
    return data


def verify_files(model_dir: Path, manifest: Manifest, names: list[str] | None = None) -> None:
    """Check the sha256 of every listed file (or only `names`) against the manifest."""
    for name in names if names is not None else list(manifest.files):
        read_verified(model_dir, manifest, name)
