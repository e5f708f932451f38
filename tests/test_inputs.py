"""`mlvajra.inputs`: a parsed body's duplicate keys found by colon count, and the byte count
under it."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvajra.inputs import count_byte, parsed_duplicate_keys

KEYS = st.sampled_from(["a", "b", "a:b", ":", "ü", 'q"'])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='ab:ü"\\\n', max_size=4)
)
# A document as written, duplicates allowed: an object is a list of (key, value) pairs.
WRITTEN = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: ("list", items))
        | st.lists(st.tuples(KEYS, inner), max_size=4).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=30,
)


def _text(value: Any, escape: bool) -> str:
    """JSON text for `value`; `escape`: every non-letter of a string as a \\u escape."""
    if isinstance(value, tuple):
        kind, items = value
        if kind == "list":
            return "[" + ",".join(_text(item, escape) for item in items) + "]"
        pairs = (f"{_text(key, escape)}: {_text(item, escape)}" for key, item in items)
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, str) and escape:
        return '"' + "".join(c if c.isalpha() else f"\\u{ord(c):04x}" for c in value) + '"'
    return json.dumps(value)


def _has_duplicates(value: Any) -> bool:
    if not isinstance(value, tuple):
        return False
    kind, items = value
    if kind == "list":
        return any(map(_has_duplicates, items))
    keys = [key for key, _ in items]
    return len(set(keys)) < len(keys) or any(_has_duplicates(item) for _, item in items)


@settings(max_examples=400, deadline=None)
@given(written=WRITTEN, escape=st.booleans())
def test_a_duplicate_is_found_wherever_it_is_and_only_then(written: Any, escape: bool) -> None:
    body = _text(written, escape).encode()
    found = parsed_duplicate_keys(body, orjson.loads(body))
    assert bool(found) == _has_duplicates(written), body


def test_an_escaped_colon_cannot_hide_a_duplicate() -> None:
    # The dropped key's colon and the kept value's escaped one cancel out in a colon count:
    # the escape sends the body to be read again.
    body = b'{"k": 1, "k": "a\\u003ab"}'
    assert body.count(b":") == orjson.dumps(orjson.loads(body)).count(b":")
    assert [p.field for p in parsed_duplicate_keys(body, orjson.loads(body))] == ["k"]


def test_a_document_orjson_cannot_write_is_read_again() -> None:
    body = b'{"n": 123456789012345678901234567890, "n": 1}'
    document = json.loads(body)  # Python's parser, as batch's JSON lines fall back to
    assert [(p.row, p.field) for p in parsed_duplicate_keys(body, document)] == [(None, "n")]
    unique = b'{"n": 123456789012345678901234567890}'
    assert parsed_duplicate_keys(unique, json.loads(unique)) == []


@pytest.mark.parametrize("length", [0, 1, 4095, 4096, 4097, 9001, 150_000])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_a_byte_is_counted_as_bytes_count_counts_it(length: int, kind: type) -> None:
    """Either side of the length where numpy takes over (bodies of 1,000 records are 147 KB)."""
    random = Random(length)
    data = bytes(random.choice([58, 44, random.randrange(256)]) for _ in range(length))
    for byte in (b":", b",", b"\x00", b"\xff"):
        assert count_byte(kind(data), byte) == data.count(byte)
