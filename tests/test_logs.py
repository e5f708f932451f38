"""JSON log lines: extra fields kept, exception messages hidden unless switched on."""

from __future__ import annotations

import json
import logging
import sys

from app.logs import HIDDEN, JsonFormatter, logging_config

SECRET = "s3cr3t-in-an-exception"  # noqa: S105 (a planted marker, not a credential)


def _record_of_failure() -> logging.LogRecord:
    """A log record of a chained failure whose messages both quote an input value."""
    try:
        try:
            raise KeyError(SECRET)
        except KeyError as inner:
            raise ValueError(f"Found unknown categories [{SECRET!r}]") from inner
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord({"msg": "inference failed", "levelname": "ERROR"})
    record.exc_info = exc_info
    record.request_id = "req-9"
    return record


def test_tracebacks_keep_frames_and_types_but_hide_messages() -> None:
    entry = json.loads(JsonFormatter().format(_record_of_failure()))
    assert entry["message"] == "inference failed"
    assert entry["request_id"] == "req-9"
    exception = entry["exception"]
    assert SECRET not in json.dumps(entry)
    assert "builtins.KeyError: " + HIDDEN in exception
    assert "builtins.ValueError: " + HIDDEN in exception
    assert exception.index("KeyError") < exception.index("ValueError")
    assert "_record_of_failure" in exception


def test_expose_errors_logs_the_messages() -> None:
    entry = json.loads(JsonFormatter(expose_errors=True).format(_record_of_failure()))
    assert SECRET in entry["exception"]


def test_logging_config_passes_the_switch_to_the_formatter() -> None:
    assert logging_config("info")["formatters"]["json"]["expose_errors"] is False
    assert logging_config("info", expose_errors=True)["formatters"]["json"]["expose_errors"]
