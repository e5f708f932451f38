"""Structured JSON logs: one object per line, never the request payload."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
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


def _entry(created: float, level: str, logger: str, message: str) -> dict[str, Any]:
    """The fields every line starts with (`pid` comes next)."""
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
    }


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object with its `extra` fields."""

    def __init__(self, expose_errors: bool = False) -> None:
        super().__init__()
        self.expose_errors = expose_errors

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record.created, record.levelname.lower(), record.name, record.getMessage())
        entry["pid"] = record.process
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


class BatchedStderrHandler(logging.Handler):
    """Writes lines to stderr in batches: every second, at 4 KB, or at once for warnings.

    One write(2) per access-log line cost about a quarter of the service's throughput on these
    machines, where a system call is dear. A batch stays under PIPE_BUF (4 KiB), so lines from
    several workers sharing one pipe never interleave; what is pending is written at exit.
    """

    interval = 1.0
    batch_bytes = 4000

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes] = []
        self._size = 0
        self._flusher: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_parent)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line; write the batch when it is full or the record is a warning."""
        try:
            line = (self.format(record) + "\n").encode()
        except Exception:
            self.handleError(record)
            return
        self._add(line, urgent=record.levelno >= logging.WARNING)

    def add_line(self, line: bytes) -> None:
        """Queue one line that is already formatted (ending with a newline)."""
        with self.lock:  # type: ignore[union-attr]
            self._add(line, urgent=False)

    def _add(self, line: bytes, urgent: bool) -> None:
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.batch_bytes or urgent:
            self._write()
        elif self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_every_interval, daemon=True)
            self._flusher.start()

    def flush(self) -> None:
        """Write whatever is pending."""
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        if self._pending:
            os.write(2, b"".join(self._pending))
            self._pending.clear()
            self._size = 0

    def _flush_every_interval(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()

    def _forget_parent(self) -> None:
        # A forked worker starts empty: the parent's pending lines and thread are the parent's.
        self.createLock()
        self._pending = []
        self._size = 0
        self._flusher = None


def info_writer(logger: logging.Logger, message: str) -> Callable[[dict[str, Any]], None]:
    """A function logging `message` with the fields it is given, as `logger.info(message,
    extra=fields)` would, for a line logged on every request (the access log).

    With the logger's one handler a `BatchedStderrHandler`, the line goes straight into its batch:
    a LogRecord (its caller lookup, thread and process names) and the formatter call cost more
    than answering a one-record prediction. Otherwise (tests, another configuration) it is
    `logger.info`. The choice is made now: call this after logging is configured.
    """
    handlers = logger.handlers
    if not logger.isEnabledFor(logging.INFO):
        return lambda fields: None
    if len(handlers) != 1 or not isinstance(handlers[0], BatchedStderrHandler) or logger.filters:
        return lambda fields: logger.info(message, extra=fields)
    handler, name = handlers[0], logger.name

    def write(fields: dict[str, Any]) -> None:
        entry = _entry(time.time(), "info", name, message)
        entry["pid"] = os.getpid()
        entry.update(fields)
        handler.add_line(orjson.dumps(entry, default=str) + b"\n")

    return write


def logging_config(level: str, expose_errors: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: JSON to stderr for gunicorn, uvicorn and mlvajra.

    Exception messages are left out of logged tracebacks unless `expose_errors`: they can quote
    input values.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = ("gunicorn.error", "uvicorn.error", "mlvajra")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "expose_errors": expose_errors}},
        "handlers": {
            "stderr": handler,
            "access": {"()": BatchedStderrHandler, "formatter": "json"},
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
            for name in loggers
        }
        | {
            "mlvajra.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
            # uvicorn's access log would repeat ours without the request id.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
