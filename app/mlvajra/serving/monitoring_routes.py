"""`GET /drift` and `GET /quality`: the model's health in production, without Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlvajra.monitoring.drift import drift_report
from mlvajra.monitoring.export import live_totals
from mlvajra.serving.schemas import LiveMetric, ModelRef, QualityResponse
from mlvajra.serving.state import service_state

router = APIRouter()


@router.get("/drift")
def read_drift(request: Request) -> dict[str, Any]:
    """Drift and data quality of the accepted inputs against the training reference."""
    state = service_state(request)
    manifest = state.manifest
    model = {"name": manifest.name, "version": manifest.version}
    if state.exporter is None or manifest.reference is None:
        reason = "monitoring is off" if manifest.reference else "the artifact has no reference"
        return {"model": model, "monitored": False, "reason": reason, "features": {}}
    state.exporter.flush()  # this worker's latest counts; the others' are at most 1 s old
    report = drift_report(manifest.reference, live_totals(manifest.version))
    return {"model": model, "monitored": True, **report}


@router.get("/quality", response_model=QualityResponse)
def read_quality(request: Request) -> QualityResponse:
    """The manifest's metric on held-out data next to its live value on labelled traffic."""
    manifest = service_state(request).manifest
    return QualityResponse(
        model=ModelRef(name=manifest.name, version=manifest.version),
        metric=LiveMetric(
            name=manifest.metrics.name, heldout=manifest.metrics.value, live=None, labels=0
        ),
    )
