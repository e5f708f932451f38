"""Requests the in-process bad-input tests send, and how they read the envelope back."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.fixtures import REFERENCE_ROWS

SECRET = "s3cr3t-value-7781"  # noqa: S105 (a planted marker, not a credential)
"""Planted in bad values: it must never come back in a response."""
VALID = orjson.dumps(REFERENCE_ROWS[0][0])
"""One valid record as JSON, to edit by hand."""


def penguin(**changes: Any) -> dict[str, Any]:
    """The first reference penguin with `changes`."""
    return dict(REFERENCE_ROWS[0][0], **changes)


def body(*records: dict[str, Any]) -> bytes:
    """A /predict body."""
    return orjson.dumps({"instances": list(records)})


def raw(record_json: bytes) -> bytes:
    """A body around one hand-written record, for tokens orjson will not write (NaN, 1e400)."""
    return b'{"instances": [' + record_json + b"]}"


def post(client: TestClient, content: Any, content_type: str | None = "application/json") -> Any:
    """POST /predict with `content_type` (None: no Content-Type header)."""
    headers = {} if content_type is None else {"content-type": content_type}
    return client.post("/predict", content=content, headers=headers)


def error_of(response: Any) -> dict[str, Any]:
    """The envelope's `error`, after checking it has exactly the envelope's keys."""
    answer = response.json()
    assert set(answer) == {"error"}
    assert set(answer["error"]) == {"code", "message", "details", "request_id"}
    return dict(answer["error"])


def without(field: str) -> dict[str, Any]:
    """The reference penguin with `field` left out."""
    record = penguin()
    del record[field]
    return record
