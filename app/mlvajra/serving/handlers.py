"""The one JSON envelope, and the exception handlers that answer with it on every error path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from mlvajra.errors import MlvajraError
from mlvajra.inputs import MAX_DETAILS
from mlvajra.serving.middleware import REQUEST_ID_SCOPE_KEY

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


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error response: the one envelope, or the shape a protocol's routes must answer."""
    request_id = request.scope.get(REQUEST_ID_SCOPE_KEY) if request is not None else None
    body = None
    if request is not None:
        path = request.scope["path"]
        for prefix, render in getattr(request.app.state, "error_shapes", ()):
            if path.startswith(prefix):
                status_code, body = render(status_code, code, message, details, request_id)
                break
    return Response(
        body if body is not None else error_body(code, message, details, request_id),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


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
    assert isinstance(error, RequestValidationError)
    details = [
        {"row": None, "field": ".".join(str(p) for p in e["loc"][1:]) or None, "message": e["msg"]}
        for e in error.errors()[:MAX_DETAILS]
    ]
    return error_response(422, "invalid_request", "the request is not valid", details, request)


async def _client_disconnected(request: Request, error: Exception) -> Response:
    # The client hung up mid-body: no one reads this answer, and nothing failed on our side, so no
    # traceback and no 500 in the metrics; 499 is nginx's code for it.
    return error_response(
        499, "client_closed_request", "the client closed the connection", (), request
    )


async def _unexpected_error(request: Request, error: Exception) -> Response:
    logger.exception(
        "unhandled error", extra={"request_id": request.scope.get(REQUEST_ID_SCOPE_KEY)}
    )
    message = "internal error"
    if getattr(request.app.state, "expose_errors", False):
        message = f"{type(error).__name__}: {error}"
    return error_response(500, "internal_error", message, (), request)


def install_error_handlers(app: FastAPI) -> None:
    """Every error path of the app answers in the envelope, internals hidden."""
    app.add_exception_handler(MlvajraError, _mlvajra_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)
