"""One scoring request as its handler sees it, and what the handler answers.

The scoring routes (/predict, V2 infer, /invocations) are answered by `mlvajra.serving.asgi`
before FastAPI's router and exception middleware: on a one-record request those cost more than
validating and running the model. Each handler is one async function of `(state, call)`; FastAPI
declares the same routes for OpenAPI and calls the same function through `answer_in_fastapi`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from mlvajra.errors import InferenceError, InvalidInstancesError, MlvajraError, PayloadTooLargeError
from mlvajra.predictor import Predictions
from mlvajra.serving.metrics import Tally
from mlvajra.serving.state import ServiceState

logger = logging.getLogger("mlvajra")
REQUEST_ID_SCOPE_KEY = "mlvajra.request_id"
JSON = b"application/json"
_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Answer(NamedTuple):
    """A handler's response: status, body, media type and any headers of its own."""

    status: int
    body: bytes
    media_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case) as sent, or None."""
    for key, value in scope["headers"]:
        if key == name:
            found: bytes = value
            return found
    return None


class Call:
    """The parts of one HTTP request a scoring handler reads: path, headers, id and body."""

    __slots__ = ("path", "receive", "request_id", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.path: str = scope["path"]
        self.request_id: str = scope[REQUEST_ID_SCOPE_KEY]

    def header(self, name: bytes) -> str | None:
        """The first value of header `name` (lower case), or None."""
        value = raw_header(self.scope, name)
        return None if value is None else value.decode("latin-1")

    def media_type(self) -> str:
        """Content-Type without its parameters, lower case ("" when absent)."""
        return (self.header(b"content-type") or "").split(";", 1)[0].strip().lower()

    async def body(self, limit: int) -> bytearray:
        """The body, refusing (413) before reading more than `limit` bytes."""
        declared = self.header(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(f"body too large: at most {limit} bytes")
        body = bytearray()  # one growing buffer: joining chunks at the end held the body twice
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > limit:
                raise PayloadTooLargeError(f"body too large: at most {limit} bytes")
            body += chunk
            if not message.get("more_body", False):
                return body


Handler = Callable[[ServiceState, Call], Awaitable[Answer]]
"""A scoring route: `(the worker's state, the call) -> Answer`, raising `MlvajraError`s."""


def scored(
    tally: Tally, request_id: str, work: Callable[[_In], tuple[_Out, Predictions]], body: _In
) -> _Out:
    """Run one request's validation and inference, counting it in the metrics every route shares.

    `work` is a codec's whole decode -> predict -> encode step: bad input counts per field, a
    model failure becomes an `InferenceError` (500, details in the log only).
    """
    started = time.perf_counter()
    try:
        payload, predictions = work(body)
    except InvalidInstancesError as error:
        tally.invalid(error.field_counts)
        raise
    except MlvajraError:
        raise
    except Exception as error:
        logger.exception("inference failed", extra={"request_id": request_id})
        raise InferenceError("the model failed on this request; see the service log") from error
    tally.scored(time.perf_counter() - started, predictions)
    return payload


async def answer_in_fastapi(handler: Handler, request: Request) -> Response:
    """Run `handler` for a request that reached FastAPI's router (the same code, slower way)."""
    state: ServiceState = request.app.state.service
    answer = await handler(state, Call(request.scope, request.receive))
    response = Response(answer.body, answer.status, media_type=answer.media_type.decode())
    for name, value in answer.headers:
        response.headers.append(name.decode(), value.decode())
    return response
