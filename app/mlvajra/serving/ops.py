"""The operators' routes `ServiceApp` answers itself: /health, /ready and /metrics.

Probes and scrapes arrive from a worker's first second on; answered here, they never wait for
the FastAPI app (built on the first request that needs it), which still declares the same
routes for OpenAPI and calls these functions.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from mlvajra.errors import NotReadyError
from mlvajra.serving.calls import Answer, Call
from mlvajra.serving.metrics import render_latest
from mlvajra.serving.state import ServiceState


async def answer_health(state: ServiceState, call: Call) -> Answer:
    """GET /health: 200 while the process can answer."""
    return Answer(200, b'{"status":"ok"}')


async def answer_ready(state: ServiceState, call: Call) -> Answer:
    """GET /ready: 200 once the model is loaded and warmed up, 503 while starting or draining."""
    if state.draining:
        raise NotReadyError("draining: this worker is shutting down")
    state.loaded_codec()  # 503 until the model is loaded and warmed up
    return Answer(200, b'{"status":"ready"}')


async def answer_metrics(state: ServiceState, call: Call) -> Answer:
    """GET /metrics: Prometheus metrics of every worker of this service."""
    state.tally.flush()  # this worker's counts are current; the others' within about a second
    body, content_type = await run_in_threadpool(render_latest)  # reads every worker's files
    return Answer(200, body, content_type.encode())


OPS = {"/health": answer_health, "/ready": answer_ready, "/metrics": answer_metrics}
"""GET (and HEAD) path -> handler."""
