"""HTTP routes: parse, call the predictor, wrap the result."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlvajra.serving.calls import answer_in_fastapi
from mlvajra.serving.ops import answer_health, answer_metrics, answer_ready
from mlvajra.serving.schemas import ErrorResponse, PredictResponse, StatusResponse, VersionResponse
from mlvajra.serving.scoring import answer_predict
from mlvajra.serving.state import service_state

logger = logging.getLogger("mlvajra")
router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "Malformed JSON",
        413: "Too many instances or body too large",
        415: "Body is not application/json",
        422: "Invalid records: every bad row and field is listed",
        503: "Model not loaded yet",
    }.items()
}


def _json(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
            },
        }
    },
)
async def predict(request: Request) -> Response:
    """Score records: one prediction per instance, in request order."""
    return await answer_in_fastapi(answer_predict, request)


@router.get("/health", response_model=StatusResponse)
@router.head("/health", include_in_schema=False)
async def read_health(request: Request) -> Response:
    """Liveness: 200 while the process can answer."""
    return await answer_in_fastapi(answer_health, request)


@router.get("/ready", response_model=StatusResponse, responses={503: _ERRORS[503]})
@router.head("/ready", include_in_schema=False)
async def read_ready(request: Request) -> Response:
    """Readiness: 200 once the model is loaded and warmed up, 503 while starting or draining."""
    return await answer_in_fastapi(answer_ready, request)


@router.get("/version", response_model=VersionResponse)
async def read_version(request: Request) -> VersionResponse:
    """What is being served: artifact identity, metrics and library versions."""
    state = service_state(request)
    manifest = state.manifest
    return VersionResponse(
        name=manifest.name,
        version=manifest.version,
        format=state.model_format,
        sha256=manifest.sha256(state.model_format),
        created_at=manifest.created_at,
        task=manifest.task,
        metrics=manifest.metrics.model_dump(),
        baseline_metrics=manifest.baseline_metrics.model_dump(),
        parity=manifest.parity.model_dump() if manifest.parity else None,
        library_versions=manifest.training.library_versions,
    )


@router.get("/metrics", response_class=Response)
async def read_metrics(request: Request) -> Response:
    """Prometheus metrics of every worker of this service."""
    return await answer_in_fastapi(answer_metrics, request)
