"""The scoring handler of /predict, which `ServiceApp` answers itself (the protocols' are in
`mlvajra.serving.protocols.scoring`).

FastAPI-free on purpose: a worker imports this to answer its first prediction, and builds the
FastAPI app (docs, OpenAPI, probes, metadata, feedback) only when a request first needs it. The
routes modules declare the same routes for OpenAPI and call these functions.
"""

from __future__ import annotations

from functools import partial

from mlvajra.errors import UnsupportedMediaTypeError
from mlvajra.serving.calls import Answer, Call, scored
from mlvajra.serving.state import ServiceState


# async def on purpose: the work per request is bounded by MLVAJRA_MAX_INSTANCES (a few ms at
# 1,000 records), cheaper to run inline than to hand to a thread pool.
async def answer_predict(state: ServiceState, call: Call) -> Answer:
    """POST /predict, answered by `mlvajra.serving.asgi` before FastAPI's router."""
    codec = state.loaded_codec()
    if call.media_type() != "application/json":
        raise UnsupportedMediaTypeError("send the body as Content-Type: application/json")
    body = await call.body(state.body_limit)
    work = partial(codec.predict, request_id=call.request_id)
    return Answer(200, scored(state.tally, call.request_id, work, body))
