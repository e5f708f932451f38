"""`ServiceApp`, the ASGI app gunicorn serves: request ids, headers, metrics, the access log.

Every request gets its id (echoed when safe, else generated), `X-Model-Version` and `nosniff`,
one `mlvajra_requests_total` write and one access-log line here. The scoring routes and the ops
routes (/health, /ready, /metrics) are answered here too, straight from their handler
(`mlvajra.serving.scoring`, `mlvajra.serving.ops`); every other request goes to the FastAPI app
(docs, OpenAPI, metadata, feedback, monitoring), whose exception handlers answer its errors.
That app is built on the first request that needs it, not at start: importing and building it
took about half of a worker's start, and neither a prediction nor a probe or scrape needs it.
The lifespan (the model's loading) is run here, so it never waits for FastAPI either.

While the worker drains, every response also says `Connection: close`: a proxy or client holding
a keep-alive connection then opens its next one elsewhere, instead of racing the worker's final
close of an idle connection.
"""

from __future__ import annotations

import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlvajra.errors import MlvajraError
from mlvajra.logs import info_writer
from mlvajra.serving.calls import REQUEST_ID_SCOPE_KEY, Answer, Call, Handler, raw_header
from mlvajra.serving.handlers import ErrorShape, client_closed, internal_error, render_error
from mlvajra.serving.ops import OPS
from mlvajra.serving.state import ServiceState

access_log = logging.getLogger("mlvajra.access")
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Route paths are the `endpoint` label; anything else is "other" so clients cannot grow the series.
_ENDPOINTS = frozenset(
    {
        *("/predict", "/health", "/ready", "/version", "/metrics", "/docs", "/openapi.json"),
        *("/v2", "/v2/health/live", "/v2/health/ready", "/ping", "/invocations"),
        *("/drift", "/quality", "/feedback"),
    }
)
_CLOSE = (b"connection", b"close")
_NOSNIFF = (b"x-content-type-options", b"nosniff")

Matcher = Callable[[str], str | None]
"""A path -> the route's template (the `endpoint` label) if the path is that route's, else None."""
Lifespan = Callable[[], AbstractAsyncContextManager[None]]
"""The worker's start (load and warm the model) and stop, around its serving."""


class ServiceApp:
    """The service: fast scoring routes, everything else through `api` (the FastAPI app)."""

    def __init__(
        self,
        build_api: Callable[[], ASGIApp],
        state: State,
        lifespan: Lifespan,
        scoring: Mapping[str, Handler],
        templated: Sequence[tuple[Matcher, Handler]],
        error_shapes: Sequence[tuple[str, ErrorShape]],
    ) -> None:
        """`build_api`: the FastAPI app, built on first use; `state`: what its routes read
        (`state.service` is the worker's `ServiceState`); `scoring`: POST path -> handler;
        `templated`: (matcher, handler) for paths with parameters; `error_shapes`: (path prefix,
        renderer) for protocols' own error bodies."""
        self.state = state
        self._build_api = build_api
        self._api: ASGIApp | None = None
        self._lifespan = lifespan
        self._service: ServiceState = state.service
        self._scoring = scoring
        self._templated = templated
        self._error_shapes = error_shapes
        self._model_version = self._service.manifest.version
        self._version_header = (b"x-model-version", self._model_version.encode())
        self._access = info_writer(access_log, "request")

    @property
    def api(self) -> ASGIApp:
        """The FastAPI app, built by the first request that reaches it. The build is synchronous
        on the event loop: requests that arrive meanwhile wait for it, none sees it half built."""
        if self._api is None:
            self._api = self._build_api()
        return self._api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        started = time.perf_counter()
        # 128 random bits in hex, as uuid4().hex has but for its version bits, at half the cost.
        request_id = _incoming_request_id(scope) or os.urandom(16).hex().encode()
        scope[REQUEST_ID_SCOPE_KEY] = request_id.decode()
        headers = [(b"x-request-id", request_id), self._version_header, _NOSNIFF]
        if self._service.draining:
            headers.append(_CLOSE)
        endpoint, handler = self._match(scope)
        status = 500
        try:
            if handler is None:
                status = await self._through_api(scope, receive, send, headers)
                endpoint = endpoint or _route_template(scope)
            else:
                status = await self._answer(handler, scope, receive, send, headers)
        finally:
            elapsed = time.perf_counter() - started
            self._service.tally.answered(endpoint or "other", status, elapsed)
            self._access(
                {
                    "request_id": scope[REQUEST_ID_SCOPE_KEY],
                    "method": scope["method"],
                    "path": endpoint or "other",
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "model_version": self._model_version,
                }
            )
            self._service.settle_counts()  # the response has left: the client does not wait

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around `lifespan`, as Starlette's router runs it."""
        started = False
        await receive()  # lifespan.startup
        try:
            async with self._lifespan():
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    def _match(self, scope: Scope) -> tuple[str | None, Handler | None]:
        """(endpoint label if known now, the handler for a POST to a scoring route or a GET/HEAD
        of an ops route: `mlvajra.serving.ops`)."""
        path: str = scope["path"]
        known = path if path in _ENDPOINTS else None
        method = scope["method"]
        if method == "GET" or method == "HEAD":
            return known, OPS.get(path)
        if method != "POST":
            return known, None
        handler = self._scoring.get(path)
        if handler is not None:
            return path, handler
        for match, handler in self._templated:
            template = match(path)
            if template is not None:
                return template, handler
        return known, None

    async def _answer(
        self,
        handler: Handler,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> int:
        call = Call(scope, receive)
        try:
            answer = await handler(self._service, call)
        except MlvajraError as error:
            answer = self._error(call, error.status_code, error.code, error.message, error.details)
        except ClientDisconnect:
            answer = self._error(call, *client_closed())
        except Exception as error:
            answer = self._error(call, *internal_error(error, call.request_id, self._expose))
        headers += [
            (b"content-type", answer.media_type),
            (b"content-length", str(len(answer.body)).encode()),
            *answer.headers,
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        return answer.status

    @property
    def _expose(self) -> bool:
        return self._service.settings.expose_errors

    def _error(
        self,
        call: Call,
        status: int,
        code: str,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> Answer:
        shapes = self._error_shapes
        return Answer(
            *render_error(shapes, call.path, status, code, message, details, call.request_id)
        )

    async def _through_api(
        self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]]
    ) -> int:
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.api(scope, receive, send_with_headers)
        return status


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/v2/models/{model_name}`), never the raw path.

    Templates come from the code, so the series stay bounded; unmatched paths are "other".
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) and "{" in template else "other"


def _incoming_request_id(scope: Scope) -> bytes | None:
    value = raw_header(scope, b"x-request-id")
    return value if value is not None and _VALID_REQUEST_ID.fullmatch(value) else None
