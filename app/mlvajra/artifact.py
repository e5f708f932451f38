"""The artifact's manifest: what an artifact folder holds and says about its model.

Reading and checking a folder against it is `mlvajra.folder`'s."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
"""The signature of manifest.json (`mlvajra sign`); the one file besides the manifest that the
manifest cannot list."""
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


class MetricRecord(BaseModel):
    """How the metric was chosen, so every later evaluation (monitoring on live labels) scores
    the same way: `mlvajra.training.scoring.metric_from_record` rebuilds it."""

    name: str
    """A scikit-learn scorer name, one of mlvajra's short names (rmse, mae), or module:function."""
    source: Literal["mlvajra", "sklearn", "user"]
    greater_is_better: bool
    response: Literal["predict", "predict_proba", "decision_function"] = "predict"
    """What the metric scores: labels/values, or the model's probabilities or decision values."""


class Baseline(BaseModel):
    """A reference model scored with the same metric on the same held-out rows."""

    name: Literal["dummy", "linear"]
    estimator: str
    metrics: Metrics
    fitted_on: Literal["training rows", "evaluation rows"] = "training rows"
    """`mlvajra.package` has no training rows: its baselines are fitted on the evaluation rows,
    which flatters them (a stricter gate, never a looser one)."""


class Parity(BaseModel):
    """Agreement between scikit-learn and onnxruntime on the same rows."""

    rows: int
    label_agreement: float | None = None
    max_abs_probability_diff: float | None = None
    max_abs_value_diff: float | None = None
    max_relative_value_diff: float | None = None
    """Regression: max |difference| over the target's scale (largest |value|, at least 1)."""
    tolerance: float
    passed: bool
    reason: str | None = None


Precision = Literal["float32", "float64"]


class ConversionAttempt(BaseModel):
    """One try at an ONNX graph: its numeric precision, and whether it agreed with scikit-learn."""

    model_config = ConfigDict(extra="forbid")

    precision: Precision
    passed: bool
    max_difference: float | None = None
    """Max |probability difference| (classification) or the relative value difference."""
    reason: str | None = None


TextMissing = Literal["nan", "none"]
"""How a missing text value reached the pipeline when it was fitted: float NaN or None."""


class Loading(BaseModel):
    """What unpickling `model.joblib` needs, and the frame its pipeline takes."""

    model_config = ConfigDict(extra="forbid")

    distributions: dict[str, str] = Field(default_factory=dict)
    """Every installed distribution whose classes or functions are in the pickle, with its version
    at export (the runner's joblib and pandas are needed besides)."""
    modules: list[str] = Field(default_factory=list)
    """The user's own modules in the pickle, carried as source under `code/`."""
    code: list[str] = Field(default_factory=list)
    """Their files in the artifact (`code/...`), each also hashed in `files`."""
    text_missing: dict[str, TextMissing] = Field(default_factory=dict)
    """Per text input with a recorded dtype: what a null becomes in the rebuilt frame."""


class Training(BaseModel):
    """Where the model came from."""

    data_source: str
    rows: int
    data_sha256: str
    train_rows: int
    test_rows: int
    seed: int
    estimator: str
    fitted_by: Literal["mlvajra", "user"] = "mlvajra"
    """"user": packaged already fitted (`mlvajra package`), train_rows unknown (0)."""
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
    """The dummy baseline's figure: the gate a model must beat."""
    metric: MetricRecord | None = None
    baselines: list[Baseline] = Field(default_factory=list)
    parity: Parity | None = None
    format_reason: str | None = None
    training: Training
    conversion: list[ConversionAttempt] = Field(default_factory=list)
    """Every ONNX graph tried at export, in order; empty when skl2onnx cannot convert at all."""
    loading: Loading | None = None
    """None for artifacts written before mlvajra recorded it."""
    input_example: dict[str, str | int | float | bool] | None = None
    """A complete held-out training record: the request example /docs shows."""
    reference: Reference | None = None
    """The drift reference; artifacts written before it existed serve without drift metrics."""

    @field_validator("files")
    @classmethod
    def _plain_relative_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name in files:
            if why := _unsafe_name(name):
                raise ValueError(f"file name {name[:80]!r} {why}")
        return files

    def sha256(self, model_format: Format) -> str:
        """The hash of the file that serves `model_format`."""
        return self.files[file_for(model_format)]


def _unsafe_name(name: str) -> str | None:
    """Why `name` may not be a `files` entry, or None: only plain relative paths inside the folder,
    else the hash check reads (and its message quotes the hash of) a file outside it."""
    parts = name.split("/")
    if not name or "\\" in name or "\0" in name or PurePosixPath(name).is_absolute():
        return "is not a plain relative path"
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' part"
    if name in (MANIFEST_NAME, SIGNATURE_NAME):
        return "names the manifest or its signature"
    return None


def file_for(model_format: Format) -> str:
    """The artifact file that holds a format."""
    return ONNX_FILE if model_format == "onnx" else JOBLIB_FILE
