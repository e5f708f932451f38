"""`only_ops_on(port, app)`: on the metrics port, the service answers what operators need only."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mlvajra.serving.handlers import error_body

OPS_PATHS = frozenset({"/metrics", "/health", "/ready"})
"""What Prometheus and the probes ask for; nothing else passes on the metrics port."""
_OPS_METHODS = frozenset({"GET", "HEAD"})
_NOT_FOUND = error_body("not_found", "this port answers /metrics, /health and /ready only")
_NOT_FOUND_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_NOT_FOUND)).encode()),
    (b"x-content-type-options", b"nosniff"),
]


def only_ops_on(metrics_port: int | None, app: ASGIApp) -> ASGIApp:
    """`app`, except that connections to `metrics_port` reach its ops routes only."""
    return app if metrics_port is None else OpsOnlyListener(app, metrics_port)


class OpsOnlyListener:
    """Pure ASGI: a request on the metrics port that is not GET/HEAD of an ops route is answered
    404 in the envelope here, without reaching the app (its metrics and access log included)."""

    def __init__(self, app: ASGIApp, metrics_port: int) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `server` is the listening socket's own address (unix sockets have no port): no header a
        # client sends changes it.
        server = scope.get("server") or (None, None)
        if scope["type"] == "lifespan" or server[1] != self.metrics_port or _is_ops(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await send(
                {"type": "http.response.start", "status": 404, "headers": _NOT_FOUND_HEADERS}
            )
            await send({"type": "http.response.body", "body": _NOT_FOUND})
        else:  # a websocket: refused before the handshake completes (403)
            await send({"type": "websocket.close", "code": 1008})


def _is_ops(scope: Scope) -> bool:
    return (
        scope["type"] == "http" and scope["method"] in _OPS_METHODS and scope["path"] in OPS_PATHS
    )
