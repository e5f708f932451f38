"""Response models of the service's routes (they become the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ModelRef(BaseModel):
    """Which artifact answered."""

    name: str
    version: str


class ClassPrediction(BaseModel):
    """A classifier's answer for one record."""

    label: str | int | bool
    probabilities: dict[str, float]
    id: str
    """`<request id>:<row>`: give it to POST /feedback with the true label."""


class ValuePrediction(BaseModel):
    """A regressor's answer for one record."""

    value: float
    id: str
    """`<request id>:<row>`: give it to POST /feedback with the true value."""


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


class LiveMetric(BaseModel):
    """The manifest's metric: held-out at training, live on labelled traffic (null until then)."""

    name: str
    heldout: float
    live: float | None
    labels: int


class QualityResponse(BaseModel):
    """Is the model still as good as at training? (`mlvajra stack compare` reads this shape.)"""

    model: ModelRef
    metric: LiveMetric
