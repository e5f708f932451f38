"""The one JSON envelope, and the exception handlers that answer with it on every error path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mlvajra.errors import MlvajraError
from mlvajra.inputs import MAX_DETAILS
from mlvajra.serving.calls import REQUEST_ID_SCOPE_KEY

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger("mlvajra")

ErrorShape = Callable[[int, str, str, Sequence[Mapping[str, Any]], str | None], tuple[int, bytes]]
"""A protocol's error renderer: (status, code, message, details, request id) -> status, body.

`create_app` lists `(path prefix, renderer)` pairs in `app.state.error_shapes`; every other path
answers in the envelope.
"""


def error_body(
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    request_id: str | None = None,
) -> bytes:
    """The envelope `{"error": {...}}` as JSON bytes."""
    error: dict[str, Any] = {"code": code, "message": message, "details": list(details)}
    if request_id:
        error["request_id"] = request_id
    return orjson.dumps({"error": error})


def render_error(
    shapes: Sequence[tuple[str, ErrorShape]],
    path: str,
    status_code: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    request_id: str | None = None,
) -> tuple[int, bytes]:
    """(status, body) of an error on `path`: the shape of the first matching prefix, else the
    envelope."""
    for prefix, render in shapes:
        if path.startswith(prefix):
            return render(status_code, code, message, details, request_id)
    return status_code, error_body(code, message, details, request_id)


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error response: the one envelope, or the shape a protocol's routes must answer."""
    if request is None:
        body = error_body(code, message, details)
    else:
        shapes = getattr(request.app.state, "error_shapes", ())
        request_id = request.scope.get(REQUEST_ID_SCOPE_KEY)
        status_code, body = render_error(
            shapes, request.scope["path"], status_code, code, message, details, request_id
        )
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}


async def _mlvajra_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MlvajraError)
    return error_response(error.status_code, error.code, error.message, error.details, request)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    return error_response(error.status_code, code, message, (), request, error.headers)


async def _validation_error(request: Request, error: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError  # imported by then: FastAPI raised it

    assert isinstance(error, RequestValidationError)
    details = [
        {"row": None, "field": ".".join(str(p) for p in e["loc"][1:]) or None, "message": e["msg"]}
        for e in error.errors()[:MAX_DETAILS]
    ]
    return error_response(422, "invalid_request", "the request is not valid", details, request)


def client_closed() -> tuple[int, str, str]:
    """The client hung up mid-body: no one reads this answer, and nothing failed on our side, so
    no traceback and no 500 in the metrics; 499 is nginx's code for it."""
    return 499, "client_closed_request", "the client closed the connection"


def internal_error(error: Exception, request_id: str | None, expose: bool) -> tuple[int, str, str]:
    """Log an unexpected error with its traceback; the answer names it only when `expose`."""
    logger.exception("unhandled error", extra={"request_id": request_id})
    message = f"{type(error).__name__}: {error}" if expose else "internal error"
    return 500, "internal_error", message


async def _client_disconnected(request: Request, error: Exception) -> Response:
    return error_response(*client_closed(), (), request)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    request_id = request.scope.get(REQUEST_ID_SCOPE_KEY)
    expose = getattr(request.app.state, "expose_errors", False)
    return error_response(*internal_error(error, request_id, expose), (), request)


def install_error_handlers(app: FastAPI) -> None:
    """Every error path of the app answers in the envelope, internals hidden."""
    from fastapi.exceptions import RequestValidationError  # FastAPI only once an app is built

    app.add_exception_handler(MlvajraError, _mlvajra_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)
