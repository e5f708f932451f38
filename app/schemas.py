"""Request and response models; the record model is generated from the manifest's inputs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.types import StrictBool, StrictInt, StrictStr

from app.artifact import InputSpec

FLOAT32_MAX = 3.4028234663852886e38
"""Numbers beyond this overflow the float32 inputs of an ONNX graph to infinity."""
INTEGER_LIMIT = 2**53
"""Integers reach the model as float64, exact only up to this; a 400-digit integer overflowed."""
MAX_STRING_LENGTH = 1000
"""Longest string value: categories are short, a megabyte string is a client bug."""

StrictNumber = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)
]
"""A JSON number: ints and floats, never a string, a bool, NaN, Infinity or beyond float32."""

_TYPES: dict[str, Any] = {
    "number": StrictNumber,
    "integer": Annotated[StrictInt, Field(ge=-INTEGER_LIMIT, le=INTEGER_LIMIT)],
    "string": Annotated[StrictStr, Field(max_length=MAX_STRING_LENGTH)],
    "boolean": StrictBool,
}


def build_record_model(inputs: list[InputSpec]) -> type[BaseModel]:
    """One strict pydantic model for a record: the manifest's fields, nothing else.

    Attributes are `f0`, `f1`, ... with the real column names as aliases, so that a column
    called `model_config` or `json` cannot collide with pydantic's own names.
    """
    fields: dict[str, Any] = {}
    for index, spec in enumerate(inputs):
        description = f"{spec.type}{', may be null' if spec.nullable else ''}"
        if spec.categories:
            description += f"; seen in training: {', '.join(spec.categories[:20])}"
            if len(spec.categories) > 20:
                description += ", ..."
        # Every field is required, nullable ones too: an omitted field is a mistake, not a null.
        annotation = _TYPES[spec.type]
        field_type = annotation | None if spec.nullable else annotation
        fields[f"f{index}"] = (field_type, Field(alias=spec.name, description=description))
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", strict=True, populate_by_name=False),
        __doc__="One raw input record, keyed by the model's input names.",
        **fields,
    )


def build_request_model(record_model: type[BaseModel], max_instances: int) -> type[BaseModel]:
    """The /predict body: 1..max_instances records."""
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="Records to score, in the order the predictions come back.",
        instances=(list[record_model], Field(min_length=1, max_length=max_instances)),  # type: ignore[valid-type]
    )


class ModelRef(BaseModel):
    """Which artifact answered."""

    name: str
    version: str


class ClassPrediction(BaseModel):
    """A classifier's answer for one record."""

    label: str | int | bool
    probabilities: dict[str, float]


class ValuePrediction(BaseModel):
    """A regressor's answer for one record."""

    value: float


class PredictResponse(BaseModel):
    """One prediction per instance, in request order."""

    model: ModelRef
    predictions: list[ClassPrediction] | list[ValuePrediction]


class ErrorDetail(BaseModel):
    """One bad value: where it is and what is wrong, never the value itself."""

    row: int | None = None
    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    """A machine-readable code, a sentence, and the offending places."""

    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """Every error the service (and nginx in front of it) returns."""

    error: ErrorBody


class StatusResponse(BaseModel):
    """Liveness or readiness."""

    status: str


class VersionResponse(BaseModel):
    """What is being served, from the manifest."""

    name: str
    version: str
    format: str
    sha256: str
    created_at: str
    task: str
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    parity: dict[str, Any] | None
    library_versions: dict[str, str]
