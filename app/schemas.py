"""Request and response models; the record model is generated from the manifest's inputs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.types import StrictBool, StrictInt, StrictStr
from typing_extensions import TypedDict

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


def neutral_record(inputs: list[InputSpec]) -> dict[str, Any]:
    """One record every input accepts: null where allowed, else a training category or a zero."""
    neutral: dict[str, Any] = {"number": 0.0, "integer": 0, "boolean": False}
    record: dict[str, Any] = {}
    for spec in inputs:
        if spec.nullable:
            record[spec.name] = None
        elif spec.type == "string":
            record[spec.name] = (spec.categories or [""])[0]
        else:
            record[spec.name] = neutral[spec.type]
    return record


def build_record_type(inputs: list[InputSpec]) -> type:
    """A strict TypedDict for one record: the manifest's fields, all required, nothing else.

    A TypedDict rather than a model: validating into plain dicts is about twice as fast, and the
    real column names are the keys, whatever they are.
    """
    fields: dict[str, Any] = {}
    for spec in inputs:
        description = f"{spec.type}{', may be null' if spec.nullable else ''}"
        if spec.categories:
            description += f"; seen in training: {', '.join(spec.categories[:20])}"
            if len(spec.categories) > 20:
                description += ", ..."
        annotation = _TYPES[spec.type]
        # Nullable fields must still be present: an omitted field is a mistake, not a null.
        field_type = annotation | None if spec.nullable else annotation
        fields[spec.name] = Annotated[field_type, Field(description=description)]
    Record = TypedDict("Record", fields)  # type: ignore[misc]
    Record.__doc__ = "One raw input record, keyed by the model's input names."
    Record.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return Record


def build_request_type(record_type: type, max_instances: int) -> type:
    """The /predict body: 1..max_instances records."""
    instances = Annotated[list[record_type], Field(min_length=1, max_length=max_instances)]  # type: ignore[valid-type]
    PredictRequest = TypedDict("PredictRequest", {"instances": instances})  # noqa: UP013
    PredictRequest.__doc__ = "Records to score, in the order the predictions come back."
    PredictRequest.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return PredictRequest


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
