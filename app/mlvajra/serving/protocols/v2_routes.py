"""Open Inference Protocol (V2) REST routes: thin, over `V2Codec` and the one predictor."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlvajra.errors import NotReadyError
from mlvajra.serving.calls import answer_in_fastapi
from mlvajra.serving.protocols.scoring import INFER, VERSIONED_INFER, answer_infer
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.state import service_state

router = APIRouter(tags=["Open Inference Protocol (V2)"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'Bad input: {"error": "<one line>", "code", "details", "request_id"}'},
    404: {"description": "Unknown model or version"},
    413: {"description": "Too many instances (shape[0]) or body too large"},
    503: {"description": "Model not loaded yet, or draining"},
}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "binary tensor data: JSON header of "
                "Inference-Header-Content-Length bytes, then raw tensors",
            },
        },
    }
}


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _codec(request: Request) -> V2Codec:
    codec: V2Codec = request.app.state.v2
    return codec


def _ready(request: Request) -> None:
    state = service_state(request)
    if state.draining:
        raise NotReadyError("draining: this worker is shutting down")
    state.loaded_codec()


@router.get("/v2/health/live")
async def v2_live() -> Response:
    """Server liveness: 200 while the process can answer."""
    return _json(b'{"live":true}')


@router.get("/v2/health/ready", responses={503: _ERRORS[503]})
async def v2_ready(request: Request) -> Response:
    """Server readiness: 200 once the model is loaded and warmed up, 503 starting or draining."""
    _ready(request)
    return _json(b'{"ready":true}')


@router.get("/v2")
async def v2_server_metadata(request: Request) -> Response:
    """Server name, version and the protocol extensions it speaks."""
    return _json(_codec(request).server_metadata())


@router.get("/v2/models/{model_name}", responses={404: _ERRORS[404]})
@router.get("/v2/models/{model_name}/versions/{model_version}", responses={404: _ERRORS[404]})
async def v2_model_metadata(
    request: Request, model_name: str, model_version: str | None = None
) -> Response:
    """Model metadata: one input per manifest column, outputs `predict` and `predict_proba`."""
    codec = _codec(request)
    codec.check_model(model_name, model_version)
    return _json(codec.model_metadata())


@router.get("/v2/models/{model_name}/ready", responses={404: _ERRORS[404], 503: _ERRORS[503]})
@router.get(
    "/v2/models/{model_name}/versions/{model_version}/ready",
    responses={404: _ERRORS[404], 503: _ERRORS[503]},
)
async def v2_model_ready(
    request: Request, model_name: str, model_version: str | None = None
) -> Response:
    """Model readiness: 200 once loaded and warmed up, 503 while starting or draining."""
    codec = _codec(request)
    codec.check_model(model_name, model_version)
    _ready(request)
    return _json(b'{"name":%b,"ready":true}' % codec.quoted_name)


@router.post(INFER, responses=_ERRORS, openapi_extra=_INFER_BODY)
@router.post(VERSIONED_INFER, responses=_ERRORS, openapi_extra=_INFER_BODY)
async def v2_infer(request: Request, model_name: str, model_version: str | None = None) -> Response:
    """Score one input tensor per column (JSON, or binary tensor data); one row per record."""
    return await answer_in_fastapi(partial(answer_infer, _codec(request)), request)
