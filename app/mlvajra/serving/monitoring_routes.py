"""`GET /drift` and `GET /quality`: the model's health in production, without Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mlvajra.errors import StoreUnavailableError
from mlvajra.monitoring.drift import drift_report
from mlvajra.monitoring.export import (
    FEEDBACK_FAILURES,
    FEEDBACK_LABELS,
    count_pairs,
    live_totals,
)
from mlvajra.monitoring.quality import live_metric
from mlvajra.serving.calls import Call
from mlvajra.serving.feedback_codec import FeedbackCodec
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


@router.post("/feedback", status_code=201)
async def post_feedback(request: Request) -> Response:
    """Store ground-truth labels; 201 only once they are committed to disk."""
    state = service_state(request)
    raw = await Call(request.scope, request.receive).body(state.body_limit)
    labels = FeedbackCodec(state.loaded_codec()).decode(raw)
    if state.feedback is None:
        FEEDBACK_FAILURES.inc()
        raise StoreUnavailableError("no feedback store: set MLVAJRA_STATE_DIR")
    try:
        stored = await run_in_threadpool(state.feedback.add, labels)
    except StoreUnavailableError:
        FEEDBACK_FAILURES.inc()
        raise
    FEEDBACK_LABELS.labels(state.manifest.version).inc(len(stored))
    count_pairs(stored, state.manifest.classes is not None)
    body = f'{{"stored":{len(stored)},"repeated":{len(labels) - len(stored)}}}'.encode()
    return Response(body, status_code=201, media_type="application/json")


@router.get("/quality", response_model=QualityResponse)
def read_quality(request: Request) -> QualityResponse:
    """The manifest's metric on held-out data next to its live value on labelled traffic."""
    state = service_state(request)
    manifest = state.manifest
    pairs = state.feedback.pairs(manifest.version) if state.feedback is not None else None
    return QualityResponse(
        model=ModelRef(name=manifest.name, version=manifest.version),
        metric=LiveMetric(
            name=manifest.metrics.name,
            heldout=manifest.metrics.value,
            live=live_metric(manifest.metrics.name, pairs) if pairs else None,
            labels=sum(pairs.values()) if pairs else 0,
        ),
    )
