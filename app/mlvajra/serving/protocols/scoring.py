"""The protocols' scoring handlers `ServiceApp` answers itself: V2 infer and /invocations.

FastAPI-free, as `mlvajra.serving.scoring`: the routes modules declare the same routes for
OpenAPI and call these functions.
"""

from __future__ import annotations

from functools import partial

from mlvajra.errors import UnsupportedMediaTypeError
from mlvajra.serving.calls import Answer, Call, scored
from mlvajra.serving.protocols.mlflow import MlflowCodec, body_kind
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.state import ServiceState

INFER = "/v2/models/{model_name}/infer"
VERSIONED_INFER = "/v2/models/{model_name}/versions/{model_version}/infer"
_V2_MEDIA_TYPES = frozenset({"", "application/json", "application/octet-stream"})


def infer_template(path: str) -> str | None:
    """The V2 infer route `path` is on (its template), or None: `/v2/models/<name>/infer` or
    `/v2/models/<name>/versions/<version>/infer`, each parameter one non-empty segment."""
    parts = path.split("/")
    if len(parts) < 5 or parts[:3] != ["", "v2", "models"] or parts[-1] != "infer":
        return None
    if len(parts) == 5 and parts[3]:
        return INFER
    if len(parts) == 7 and parts[4] == "versions" and parts[3] and parts[5]:
        return VERSIONED_INFER
    return None


# async def on purpose, as /predict: the work is bounded by MLVAJRA_MAX_INSTANCES.
async def answer_infer(codec: V2Codec, state: ServiceState, call: Call) -> Answer:
    """POST to a V2 infer route (path checked by `infer_template`), answered before the router."""
    loaded = state.loaded_codec()
    parts = call.path.split("/")
    codec.check_model(parts[3], parts[5] if len(parts) == 7 else None)
    if call.media_type() not in _V2_MEDIA_TYPES:
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


async def answer_invocations(codec: MlflowCodec, state: ServiceState, call: Call) -> Answer:
    """POST /invocations, answered by `mlvajra.serving.asgi` before FastAPI's router."""
    loaded = state.loaded_codec()
    kind = body_kind(call.header(b"content-type") or "")
    body = bytes(await call.body(state.body_limit))
    work = partial(codec.invoke, loaded.predictor, loaded.live, kind=kind)
    return Answer(200, scored(state.tally, call.request_id, work, body))
