"""What every path that takes records shares: limits, the missing marker, problems and messages.

The API (JSON records), batch files and Spark (Arrow columns) judge a value by these rules and
describe what is wrong with the same sentences.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.types import StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from mlvajra.artifact import InputSpec

MISSING_CATEGORY = "__missing__"
"""What a missing (null) categorical value becomes before it reaches either model format."""
FLOAT32_MAX = 3.4028234663852886e38
"""Numbers beyond this overflow the float32 inputs of an ONNX graph to infinity."""
INTEGER_LIMIT = 2**53
"""Integers reach the model as float64, exact only up to this; a 400-digit integer overflowed."""
MAX_STRING_LENGTH = 1000
"""Longest string value: categories are short, a megabyte string is a client bug."""
MAX_DETAILS = 100
"""At most this many bad values are listed in one error; the message gives the full count."""
MAX_FIELD_NAME = 100
"""Unknown field names are client-chosen: a longer one is cut so errors stay small."""
UNKNOWN_FIELD = "<unknown>"
"""Metric label for fields the model does not have (client-chosen names must not become labels)."""
RECORD = "<record>"
"""Metric label for a record that is not an object at all."""
BODY_ENVELOPE_BYTES = 1024
"""The body around the records (`{"instances": [...]}`) plus room for a trailing newline."""

# Longest JSON text a valid value can take: a float64 with all 17 digits and a 3-digit exponent
# (plus room for a few more digits than needed), -(2**53), false, null.
_VALUE_BYTES = {"number": 32, "integer": 17, "boolean": 5}
_NULL_BYTES = 4
# A string of MAX_STRING_LENGTH characters of up to 4 UTF-8 bytes each, in quotes.
_STRING_BYTES = 2 + 4 * MAX_STRING_LENGTH
# Per field: `"name": value, ` plus indentation of a pretty-printed record.
_FIELD_SLACK_BYTES = 4 + 8

StrictNumber = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)
]
"""A JSON number: ints and floats, never a string, a bool, NaN, Infinity or beyond float32."""


def integral(value: Any) -> Any:
    """A float with an integral value as that int (JSON Schema's integer: `2007.0` is one).

    pandas clients send `2007.0` whenever an integer column held a missing value. Anything else
    is left to the strict int check (booleans, strings and `2007.5` stay refused).
    """
    if type(value) is float:
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "must be an integer")
        return int(value)
    return value


StrictInteger = Annotated[
    StrictInt, BeforeValidator(integral), Field(ge=-INTEGER_LIMIT, le=INTEGER_LIMIT)
]
"""A JSON integer: an int or an integral float, never a bool or a string, within 2**53."""

_TYPES: dict[str, Any] = {
    "number": StrictNumber,
    "integer": StrictInteger,
    "string": Annotated[StrictStr, Field(max_length=MAX_STRING_LENGTH)],
    "boolean": StrictBool,
}

_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "finite_number": "must be a finite number (not NaN or Infinity)",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list of records",
    "too_short": "must hold at least one record",
    "greater_than_equal": "number out of range",
    "less_than_equal": "number out of range",
    "string_too_long": f"string longer than {MAX_STRING_LENGTH} characters",
}


def message_for(error_type: str, default: str | None = None) -> str:
    """The client-facing sentence for a pydantic error type (batch validation uses it too)."""
    return _MESSAGES.get(error_type, default or error_type)


def shorten(name: str) -> str:
    """A client-chosen field name, cut to `MAX_FIELD_NAME` characters."""
    return name if len(name) <= MAX_FIELD_NAME else name[:MAX_FIELD_NAME] + "..."


@dataclass(frozen=True)
class Problem:
    """One invalid value: row index, field name (or None for the whole record), reason."""

    row: int | None
    field: str | None
    message: str

    def as_detail(self) -> dict[str, Any]:
        """The envelope's `details` entry."""
        return {"row": self.row, "field": self.field, "message": self.message}


def record_json_bytes(inputs: list[InputSpec]) -> int:
    """The longest a valid record can be as JSON (UTF-8, pretty-printed at most one field a line).

    Escaped non-ASCII text (`\\u00e9`, 6 bytes a character) can be longer: such clients set
    MLVAJRA_MAX_BODY_BYTES.
    """
    size = 4  # {} and the comma between records
    for spec in inputs:
        value = _STRING_BYTES if spec.type == "string" else _VALUE_BYTES[spec.type]
        if spec.nullable:
            value = max(value, _NULL_BYTES)
        name = len(json.dumps(spec.name, ensure_ascii=False).encode())
        size += name + value + _FIELD_SLACK_BYTES
    return size


def neutral_record(inputs: list[InputSpec]) -> dict[str, Any]:
    """One record every input accepts: null where allowed, else a training category or a zero."""
    neutral: dict[str, Any] = {"number": 0.0, "integer": 0, "boolean": False}
    record: dict[str, Any] = {}
    for spec in inputs:
        if spec.nullable:
            record[spec.name] = None
        elif spec.type == "string":
            record[spec.name] = (spec.categories or [""])[0]
        else:
            record[spec.name] = neutral[spec.type]
    return record


def value_type(spec: InputSpec) -> Any:
    """What one field of a record may hold: its strict JSON type, or null too where nullable."""
    annotation = _TYPES[spec.type]
    return annotation | None if spec.nullable else annotation


def build_record_type(inputs: list[InputSpec]) -> type:
    """A strict TypedDict for one record: the manifest's fields, all required, nothing else.

    A TypedDict rather than a model: validating into plain dicts is about twice as fast, and the
    real column names are the keys, whatever they are.
    """
    fields: dict[str, Any] = {}
    for spec in inputs:
        description = f"{spec.type}{', may be null' if spec.nullable else ''}"
        if spec.categories:
            description += f"; seen in training: {', '.join(spec.categories[:20])}"
            if len(spec.categories) > 20:
                description += ", ..."
        # Nullable fields must still be present: an omitted field is a mistake, not a null.
        fields[spec.name] = Annotated[value_type(spec), Field(description=description)]
    Record = TypedDict("Record", fields)  # type: ignore[misc]
    Record.__doc__ = "One raw input record, keyed by the model's input names."
    Record.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return Record


DUPLICATE_FIELD = "duplicate field: each key may appear once"
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_COUNTED_BY_NUMPY = 4096
"""From about this length numpy counts a byte faster than `bytes.count`'s loop."""


def count_byte(data: bytes | bytearray | memoryview, byte: bytes) -> int:
    """How often the single `byte` occurs in `data`: `bytes.count` for short bodies; numpy's
    compare for long ones (9 against 52 us for a 147 KB body of 1,000 records, three counts of
    which every such request takes)."""
    if len(data) < _COUNTED_BY_NUMPY:
        return bytes(data).count(byte) if isinstance(data, memoryview) else data.count(byte)
    # Imported here: gunicorn's master imports this module (for the body limit) and forks
    # before numpy starts its threads (tests/serving/test_master_start.py).
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == byte[0]))


def parsed_duplicate_keys(body: bytes | bytearray, document: Any) -> list[Problem]:
    """The duplicate keys of a valid JSON `body`, which a parser read as `document`.

    Parsers keep the last of duplicate keys, so a body with one holds more keys than `document`.
    Written back by orjson, `document` has one colon per key it kept and every colon of its
    strings, byte for byte the body's unless the body escaped a colon (`\\u003a`): as many colons
    as the body's means no key was dropped (a fifth of the cost of walking `document` to count its
    keys, for a one-row V2 request). Otherwise, or when orjson cannot write `document` (an integer
    beyond 64 bits), the body is read again to name them.
    """
    if b"\\u003" not in body:
        try:
            if count_byte(orjson.dumps(document), b":") == count_byte(body, b":"):
                return []
        except orjson.JSONEncodeError:
            pass
    return _named_duplicates(body)


def duplicate_keys(body: bytes | bytearray, keys: int) -> list[Problem]:
    """The duplicate keys of a valid JSON `body` whose parsed objects hold `keys` keys.

    JSON parsers keep the last of duplicate keys silently (orjson and pydantic's alike). Every key
    of the text is followed by one colon outside a string: as many colons as parsed keys means
    there was no duplicate, at the cost of counting (colons inside strings, rare, cost one regex
    pass more). Only a body that has a duplicate is parsed again to name it.
    """
    if count_byte(body, b":") <= keys or count_byte(_JSON_STRING.sub(b"", body), b":") <= keys:
        return []
    return _named_duplicates(body)


def _named_duplicates(body: bytes | bytearray) -> list[Problem]:
    """Each duplicate key of JSON `body`: the row is the object's position among the inner
    objects, None for the outermost one."""
    found: list[tuple[int, str]] = []
    objects = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal objects
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                found.append((objects, key))
            seen.add(key)
        objects += 1
        return dict(items)

    json.loads(body, object_pairs_hook=pairs)
    outermost = objects - 1
    return [
        Problem(None if index == outermost else index, shorten(key), DUPLICATE_FIELD)
        for index, key in found[:MAX_DETAILS]
    ]
