"""HTTP routes: parse, call the predictor, wrap the result."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlvajra.errors import (
    InferenceError,
    InvalidInstancesError,
    MlvajraError,
    NotReadyError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from mlvajra.predictor import Predictions
from mlvajra.serving.metrics import (
    INFERENCE_DURATION,
    INSTANCES,
    INVALID_INSTANCES,
    PREDICTIONS,
    render_latest,
)
from mlvajra.serving.middleware import REQUEST_ID_SCOPE_KEY
from mlvajra.serving.schemas import ErrorResponse, PredictResponse, StatusResponse, VersionResponse
from mlvajra.serving.state import service_state

logger = logging.getLogger("mlvajra")
router = APIRouter()
_In = TypeVar("_In")
_Out = TypeVar("_Out")

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


async def read_body(request: Request, limit: int) -> bytes | bytearray:
    """The body, refusing (413) before reading more than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body too large: at most {limit} bytes")
    body = bytearray()  # one growing buffer: joining chunks at the end held the body twice
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise PayloadTooLargeError(f"body too large: at most {limit} bytes")
        body += chunk
    return body


# async def on purpose: the work per request is bounded by MLVAJRA_MAX_INSTANCES (a few ms at
# 1,000 records), cheaper to run inline than to hand to a thread pool.
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
    state = service_state(request)
    codec = state.loaded_codec()
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError("send the body as Content-Type: application/json")
    body = await read_body(request, state.body_limit)
    request_id: str = request.scope[REQUEST_ID_SCOPE_KEY]
    return _json(scored(request, partial(codec.predict, request_id=request_id), body))


def scored(request: Request, work: Callable[[_In], tuple[_Out, Predictions]], body: _In) -> _Out:
    """Run one request's validation and inference, counting it in the metrics every route shares.

    `work` is a codec's whole decode -> predict -> encode step: bad input counts per field, a
    model failure becomes an `InferenceError` (500, details in the log only).
    """
    started = time.perf_counter()
    try:
        payload, predictions = work(body)
    except InvalidInstancesError as error:
        for field, count in error.field_counts.items():
            INVALID_INSTANCES.labels(field).inc(count)
        raise
    except MlvajraError:
        raise
    except Exception as error:
        logger.exception(
            "inference failed", extra={"request_id": request.scope.get(REQUEST_ID_SCOPE_KEY)}
        )
        raise InferenceError("the model failed on this request; see the service log") from error
    INFERENCE_DURATION.observe(time.perf_counter() - started)
    INSTANCES.observe(len(predictions.labels))
    if predictions.probabilities is not None:
        for label, count in Counter(predictions.labels.tolist()).items():
            PREDICTIONS.labels(str(label)).inc(count)
    return payload


@router.get("/health", response_model=StatusResponse)
@router.head("/health", include_in_schema=False)
async def read_health() -> Response:
    """Liveness: 200 while the process can answer."""
    return _json(b'{"status":"ok"}')


@router.get("/ready", response_model=StatusResponse, responses={503: _ERRORS[503]})
@router.head("/ready", include_in_schema=False)
async def read_ready(request: Request) -> Response:
    """Readiness: 200 once the model is loaded and warmed up, 503 while starting or draining."""
    state = service_state(request)
    if state.draining:
        raise NotReadyError("draining: this worker is shutting down")
    state.loaded_codec()  # 503 until the model is loaded and warmed up
    return _json(b'{"status":"ready"}')


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
def read_metrics() -> Response:
    """Prometheus metrics of every worker of this service."""
    body, content_type = render_latest()
    return Response(body, media_type=content_type)
