"""JSON Lines read per row: one line Arrow's reader refuses no longer fails the whole file.

Arrow reads a block of lines at C speed. A block it refuses (a duplicate key, `1e400`, `NaN`,
a line that is not JSON, one column holding numbers and text) is read again line by line: each
line that parses becomes a row of its own values (a union column where types differ, as a
SQLite column), and each line that cannot be scored (a duplicate key, a non-finite number, no
JSON object) carries the reason in the `ROW_PROBLEM` column, which batch validation turns into
that row's reject with the API's message.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from mlvajra.data.kinds import ROW_PROBLEM
from mlvajra.data.sqlite import arrow_column
from mlvajra.inputs import parsed_duplicate_keys

DUPLICATE, NOT_FINITE, NOT_JSON = "duplicate key", "not a finite number", "not a JSON object"
_PROBLEM_TYPE = pa.struct([("field", pa.string()), ("kind", pa.string())])
_INT64 = 2**63


def blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """The file in pieces of about `block_bytes`, each ending at a line's end."""
    rest = b""
    with path.open("rb") as handle:
        while data := handle.read(block_bytes):
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            rest = data[cut:]
    if rest.strip():
        yield rest


def read_block(block: bytes) -> pa.Table:
    """One block as a table: by Arrow's reader, or line by line where it refuses the block."""
    try:
        options = pa_json.ReadOptions(block_size=max(len(block), 1 << 16))
        return pa_json.read_json(io.BytesIO(block), read_options=options)
    except pa.ArrowInvalid:
        return _line_by_line(block)


def _line_by_line(block: bytes) -> pa.Table:
    records: list[dict[str, Any]] = []
    problems: list[dict[str, Any] | None] = []
    for line in block.split(b"\n"):
        if not line.strip():
            continue
        record, problem = _read_line(line)
        records.append(record)
        problems.append(problem)
    names = list(dict.fromkeys(name for record in records for name in record))
    columns = {name: arrow_column([record.get(name) for record in records]) for name in names}
    if any(problems):
        columns[ROW_PROBLEM] = pa.array(problems, type=_PROBLEM_TYPE)
    return pa.table(columns) if columns else pa.table({ROW_PROBLEM: pa.nulls(len(records))})


def _read_line(line: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A line's values (scalars only) and, if it cannot be scored, why."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            document = json.loads(line)  # NaN, Infinity and 1e400 (as infinity) parse here
        except (ValueError, RecursionError):
            return {}, {"field": None, "kind": NOT_JSON}
    if not isinstance(document, dict):
        return {}, {"field": None, "kind": NOT_JSON}
    # The values are kept even where the row cannot be scored: --keep columns (an id) go with
    # the reject.
    values = {name: _scalar(value) for name, value in document.items()}
    duplicates = parsed_duplicate_keys(line, document)
    if duplicates:
        return values, {"field": duplicates[0].field, "kind": DUPLICATE}
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            return values | {name: None}, {"field": name, "kind": NOT_FINITE}
    return values, None


def _scalar(value: Any) -> Any:
    if isinstance(value, list | dict):
        return orjson.dumps(value)  # bytes: the wrong type for every field, as in the API
    if type(value) is int and not -_INT64 <= value < _INT64:
        return float(value)  # beyond int64: still out of range for an integer field
    return value
