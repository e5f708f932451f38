"""Structured JSON logs: one object per line, never the request payload."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
HIDDEN = "(message hidden: set MLVAJRA_EXPOSE_ERRORS=true to log it)"
"""Stands in for exception messages in logged tracebacks: they can quote input values."""


def redacted_traceback(error: BaseException) -> str:
    """The traceback of `error` and of its causes, each exception's message left out.

    Frames and source lines stay: they show code, not values.
    """
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for item in reversed(chain):
        frames = "".join(traceback.format_tb(item.__traceback__))
        name = f"{type(item).__module__}.{type(item).__qualname__}"
        parts.append(f"Traceback (most recent call last):\n{frames}{name}: {HIDDEN}")
    return "\n\nwhich led to:\n\n".join(parts)


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object with its `extra` fields."""

    def __init__(self, expose_errors: bool = False) -> None:
        super().__init__()
        self.expose_errors = expose_errors

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            error = record.exc_info[1]
            entry["exception"] = (
                redacted_traceback(error)
                if error is not None and not self.expose_errors
                else self.formatException(record.exc_info)
            )
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, expose_errors: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: JSON to stderr for gunicorn, uvicorn and mlvajra.

    Exception messages are left out of logged tracebacks unless `expose_errors`: they can quote
    input values.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = ("gunicorn.error", "uvicorn.error", "mlvajra", "mlvajra.access")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "expose_errors": expose_errors}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
            for name in loggers
        }
        # uvicorn's access log would repeat ours without the request id.
        | {"uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
    }
