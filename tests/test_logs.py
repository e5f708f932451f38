"""JSON log lines: extra fields kept, exception messages hidden unless switched on."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from mlvajra.logs import HIDDEN, JsonFormatter, logging_config

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


def test_batched_handler_holds_info_lines_until_flush_but_writes_warnings_at_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from mlvajra.logs import BatchedStderrHandler

    handler = BatchedStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test.batched")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("first")
        assert capfd.readouterr().err == ""
        handler.flush()
        assert capfd.readouterr().err == "first\n"
        logger.info("second")
        logger.warning("third")
        assert capfd.readouterr().err == "second\nthird\n"
        padding = "x" * 50  # 200 lines of 60 bytes: several 4 KB batches, and a rest pending
        for index in range(200):
            logger.info("line %03d %s", index, padding)
        written = capfd.readouterr().err.splitlines()
        assert 0 < len(written) < 200
        assert written == [f"line {index:03d} {padding}" for index in range(len(written))]
    finally:
        logger.removeHandler(handler)
        handler.flush()


def test_the_fast_info_writer_writes_the_line_logging_would(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from mlvajra.logs import BatchedStderrHandler, info_writer

    fields = {"request_id": "r-1", "status": 200, "duration_ms": 0.5}
    lines = []
    for fast in (False, True):
        logger = logging.getLogger(f"mlvajra.test-writer-{fast}")
        logger.propagate = False
        handler = BatchedStderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        write = info_writer(logger, "request")
        if fast:
            write(fields)
        else:
            logger.info("request", extra=fields)
        handler.flush()
        entry = json.loads(capfd.readouterr().err)
        assert entry.pop("logger") == logger.name
        assert entry.pop("time")
        lines.append(entry)
    assert (
        lines[0]
        == lines[1]
        == {"level": "info", "message": "request", "pid": lines[0]["pid"]} | fields
    )
    logger.setLevel(logging.WARNING)
    info_writer(logger, "request")(fields)
    handler.flush()
    assert capfd.readouterr().err == ""
