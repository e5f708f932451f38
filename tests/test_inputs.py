"""`mlvajra.inputs.key_count`: the keys of every object of a parsed JSON document, counted."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvajra.inputs import duplicate_keys, key_count

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=40,
)


def _reference(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(map(_reference, value.values()))
    if isinstance(value, list):
        return sum(map(_reference, value))
    return 0


@settings(max_examples=300, deadline=None)
@given(document=JSON)
def test_every_nested_key_is_counted(document: Any) -> None:
    parsed = orjson.loads(orjson.dumps(document))
    assert key_count(parsed) == _reference(parsed)


def test_a_tensor_of_numbers_beside_objects() -> None:
    document = {"inputs": [{"name": "a", "data": [1.0, 2.0, {"x": [{"y": 1}]}]}, [[{"z": 0}]]]}
    assert key_count(document) == 1 + 2 + 1 + 1 + 1
    # Long containers are checked in C before they are walked: numbers are skipped, not objects.
    long = {"data": [0.5] * 40, "rows": [[{"a": 1}]] * 20, "mixed": [1] * 30 + [{"b": 2}]}
    assert key_count(long) == _reference(long) == 3 + 20 + 1
    body = b'{"inputs":[{"name":"a","name":"b","data":[1]}]}'
    assert duplicate_keys(body, key_count(orjson.loads(body))), "the count finds the duplicate"
