"""Pure ASGI middleware: request ids, model version header, request metrics, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlvajra.serving.metrics import REQUEST_DURATION, REQUESTS
from mlvajra.serving.state import ServiceState

REQUEST_ID_SCOPE_KEY = "mlvajra.request_id"
access_log = logging.getLogger("mlvajra.access")
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Route paths are the `endpoint` label; anything else is "other" so clients cannot grow the series.
_ENDPOINTS = frozenset(
    {
        *("/predict", "/health", "/ready", "/version", "/metrics", "/docs", "/openapi.json"),
        *("/v2", "/v2/health/live", "/v2/health/ready", "/ping", "/invocations"),
    }
)
# Protocol routes with path parameters: labelled by template (see `_route_template`).
_TEMPLATES = frozenset(
    {
        "/v2/models/{model_name}",
        "/v2/models/{model_name}/ready",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}",
        "/v2/models/{model_name}/versions/{model_version}/ready",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    }
)
_CLOSE = (b"connection", b"close")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


class RequestContextMiddleware:
    """Adds X-Request-ID (echoed when safe, else generated), X-Model-Version and nosniff; counts.

    While the worker drains, every response also says `Connection: close`: a proxy or client
    holding a keep-alive connection then opens its next one elsewhere, instead of racing the
    worker's final close of an idle connection.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self._state = state
        self._model_version = state.manifest.version
        self._version_header = (b"x-model-version", self._model_version.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex.encode()
        scope[REQUEST_ID_SCOPE_KEY] = request_id.decode()
        extra_headers = [(b"x-request-id", request_id), self._version_header, _NOSNIFF]
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
                if self._state.draining:
                    message["headers"].append(_CLOSE)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            path = scope["path"]
            endpoint = path if path in _ENDPOINTS else _route_template(scope)
            elapsed = time.perf_counter() - started
            REQUESTS.labels(endpoint, str(status)).inc()
            REQUEST_DURATION.labels(endpoint).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": scope[REQUEST_ID_SCOPE_KEY],
                    "method": scope["method"],
                    "path": endpoint,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "model_version": self._model_version,
                },
            )


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/v2/models/{model_name}/infer`), never the raw path.

    Templates come from the code, so the series stay bounded; unmatched paths are "other".
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) and template in _TEMPLATES else "other"


def _incoming_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _VALID_REQUEST_ID.fullmatch(value) else None
    return None
