"""Open Inference Protocol (V2) REST routes: thin, over `V2Codec` and the one predictor."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mlvajra.errors import NotReadyError, UnsupportedMediaTypeError
from mlvajra.serving.calls import Answer, Call, answer_in_fastapi, scored
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.state import ServiceState, service_state

router = APIRouter(tags=["Open Inference Protocol (V2)"])
_MEDIA_TYPES = frozenset({"", "application/json", "application/octet-stream"})
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


_INFER = "/v2/models/{model_name}/infer"
_VERSIONED_INFER = "/v2/models/{model_name}/versions/{model_version}/infer"


def infer_template(path: str) -> str | None:
    """The V2 infer route `path` is on (its template), or None: `/v2/models/<name>/infer` or
    `/v2/models/<name>/versions/<version>/infer`, each parameter one non-empty segment."""
    parts = path.split("/")
    if len(parts) < 5 or parts[:3] != ["", "v2", "models"] or parts[-1] != "infer":
        return None
    if len(parts) == 5 and parts[3]:
        return _INFER
    if len(parts) == 7 and parts[4] == "versions" and parts[3] and parts[5]:
        return _VERSIONED_INFER
    return None


# async def on purpose, as /predict: the work is bounded by MLVAJRA_MAX_INSTANCES.
async def answer_infer(codec: V2Codec, state: ServiceState, call: Call) -> Answer:
    """POST to a V2 infer route (path checked by `infer_template`), answered before the router."""
    loaded = state.loaded_codec()
    parts = call.path.split("/")
    codec.check_model(parts[3], parts[5] if len(parts) == 7 else None)
    if call.media_type() not in _MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            "send the body as application/json, or application/octet-stream with "
            "Inference-Header-Content-Length"
        )
    # The protocol codecs parse bytes; /predict's codec also takes the bytearray as read.
    body = bytes(await call.body(state.body_limit))
    header_length = call.header(b"inference-header-content-length")
    # The worker's predictor and drift counts, made in the lifespan: those /predict uses.
    work = partial(
        codec.infer,
        loaded.predictor,
        loaded.live,
        header_length=header_length,
        request_id=call.request_id,
    )
    payload, json_length = scored(state.tally, call.request_id, work, body)
    if json_length is None:
        return Answer(200, payload)
    length_header = (b"inference-header-content-length", str(json_length).encode())
    return Answer(200, payload, b"application/octet-stream", (length_header,))


@router.post(_INFER, responses=_ERRORS, openapi_extra=_INFER_BODY)
@router.post(_VERSIONED_INFER, responses=_ERRORS, openapi_extra=_INFER_BODY)
async def v2_infer(request: Request, model_name: str, model_version: str | None = None) -> Response:
    """Score one input tensor per column (JSON, or binary tensor data); one row per record."""
    return await answer_in_fastapi(partial(answer_infer, _codec(request)), request)
