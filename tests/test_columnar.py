"""`columnar.JsonBodies` takes a body only when record-by-record validation would, as it would."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from mlvajra.artifact import InputSpec
from mlvajra.columnar import JsonBodies, accept_columns
from mlvajra.inputs import (
    FLOAT32_MAX,
    INTEGER_LIMIT,
    MAX_STRING_LENGTH,
    build_record_type,
    value_type,
)
from mlvajra.predictor import model_column

INPUTS = [
    InputSpec(name="n", type="number", nullable=True),
    InputSpec(name="i", type="integer", nullable=False),
    InputSpec(name="j", type="integer", nullable=True),
    InputSpec(name="s", type="string", nullable=True),
    InputSpec(name="b", type="boolean", nullable=False),
]
RECORDS = TypeAdapter(list[build_record_type(INPUTS)])  # type: ignore[misc]
RECORDS_OF = {spec.name: TypeAdapter(list[value_type(spec)]) for spec in INPUTS}  # type: ignore[misc]
# Values at and across every limit, of every JSON type.
EDGES: list[Any] = [
    None, True, False, 0, 1, -7, 3, 2007, 2007.0, 2007.5, -0.0, 0.1, 1e-300, 1e300,
    FLOAT32_MAX, -FLOAT32_MAX, 3.5e38, INTEGER_LIMIT - 1, INTEGER_LIMIT, INTEGER_LIMIT + 1,
    -INTEGER_LIMIT, float(INTEGER_LIMIT), 2.0**60, 2**63 - 1, "", "a", "2007",
    "x" * MAX_STRING_LENGTH,
    "x" * (MAX_STRING_LENGTH + 1), [], {},
]  # fmt: skip
VALID: dict[str, list[Any]] = {
    "n": [None, 0, 1, -7, 2007.0, 0.1, 1e300, FLOAT32_MAX],
    "i": [0, 3, 2007, 2007.0, INTEGER_LIMIT - 1, -INTEGER_LIMIT + 1],
    "j": [None, 3, 2007.0],
    "s": [None, "", "a", "2007", "x" * MAX_STRING_LENGTH],
    "b": [True, False],
}


@st.composite
def records(draw: st.DrawFn) -> list[Any]:
    """Mostly valid records, some with one value, key or record made wrong."""
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        row: Any = {name: draw(st.sampled_from(values)) for name, values in VALID.items()}
        change = draw(st.sampled_from(["none", "none", "value", "drop", "extra", "shape"]))
        name = draw(st.sampled_from(sorted(VALID)))
        if change == "value":
            row[name] = draw(st.sampled_from(EDGES))
        elif change == "drop":
            del row[name]
        elif change == "extra":
            row["unknown"] = 1
        elif change == "shape":
            row = draw(st.sampled_from([[], "record", None, 1]))
        rows.append(row)
    return rows


def _as_validated(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records sent with 3 for a number or 2007.0 for an integer, as validation gives them."""
    casts: dict[str, type] = {spec.name: float for spec in INPUTS if spec.type == "number"}
    casts |= {spec.name: int for spec in INPUTS if spec.type == "integer"}
    return [
        {
            name: value if value is None or name not in casts else casts[name](value)
            for name, value in record.items()
        }
        for record in records
    ]


def _agree(rows: list[Any], may_leave: bool = False) -> None:
    """`accept` refuses what validation refuses, takes the rest (unless `may_leave`) and gives
    the values and model columns validation gives."""
    body = orjson.dumps({"instances": rows})
    accepted = JsonBodies(INPUTS, max_records=100).accept(body)
    try:
        expected = RECORDS.validate_json(orjson.dumps(rows))
    except ValidationError:
        assert accepted is None, f"accepted {rows}, which validation refuses"
        return
    if accepted is None:
        assert may_leave, f"left a valid body to validation: {rows}"
        return
    got, columns = accepted
    assert _as_validated(list(got)) == expected  # as sent: 2007.0 where validation has 2007
    for spec in INPUTS:
        want = model_column(spec, [record[spec.name] for record in expected])
        assert columns[spec.name].dtype == want.dtype
        assert np.array_equal(columns[spec.name], want, equal_nan=want.dtype != object)


BASE = {name: values[1] for name, values in VALID.items()}


def test_every_edge_value_in_every_input() -> None:
    for name in VALID:
        for value in EDGES:
            # An integer of exactly 2**53 is valid; float64 cannot tell it from 2**53 + 1.
            exactly_the_limit = type(value) in (int, float) and abs(value) == INTEGER_LIMIT
            _agree([BASE, {**BASE, name: value}], may_leave=exactly_the_limit)


@settings(max_examples=300, deadline=None)
@given(records())
def test_mixed_bodies_agree(rows: list[Any]) -> None:
    _agree(rows, may_leave=True)


def test_takes_a_plain_valid_body() -> None:
    rows = [{"n": 1.5, "i": 2007.0, "j": None, "s": "a", "b": True}] * 3
    body = orjson.dumps({"instances": rows})
    accepted = JsonBodies(INPUTS, max_records=100).accept(body)
    assert accepted is not None
    assert list(accepted[0]) == rows  # as sent: the prediction log writes them as validated
    assert accepted[0][1:] == rows[1:]
    assert JsonBodies(INPUTS, max_records=2).accept(body) is None  # too many: judged later


def test_a_body_that_is_not_one_object_of_records_is_left_to_validation() -> None:
    rows = [{"n": 1.5, "i": 2007, "j": None, "s": "a", "b": True}]
    bodies = JsonBodies(INPUTS, max_records=100)
    for body in (b"[]", b"{}", b'{"instances": []}', b'{"instances": {}}', b"{", b"\xff", b"NaN"):
        assert bodies.accept(body) is None, body
    both = orjson.dumps({"instances": rows, "more": 1})
    assert bodies.accept(both) is None
    with_nan = orjson.dumps({"instances": rows}).replace(b"1.5", b"NaN")
    assert bodies.accept(with_nan) is None


ARRAY_EDGES = [
    float("nan"), float("inf"), 3.5e38, FLOAT32_MAX, -0.0, 2007.0, 2007.5, INTEGER_LIMIT,
    INTEGER_LIMIT + 1, -INTEGER_LIMIT - 1, 2**63 - 1, 0, 1, True,
]  # fmt: skip
ARRAY_DTYPES = ["?", "<u1", "<u8", "<i4", "<i8", "<f2", "<f4", "<f8"]


def test_binary_arrays_agree_with_validation() -> None:
    """A binary tensor's array is accepted only where its values (NaN a null where nullable, as
    V2 reads binary data) pass validation, as validation gives them."""
    for spec in (spec for spec in INPUTS if spec.type != "string"):
        for dtype in map(np.dtype, ARRAY_DTYPES):
            for edge in ARRAY_EDGES:
                with np.errstate(all="ignore"):
                    array = np.array([1, edge, 0]).astype(dtype)
                values = [
                    None if spec.nullable and value != value else value for value in array.tolist()
                ]
                columns = accept_columns([spec], [array])
                try:
                    expected = RECORDS_OF[spec.name].validate_python(values)
                except ValidationError:
                    assert columns is None, (spec, dtype, edge)
                    continue
                if columns is None:  # may leave: judged record by record
                    continue
                want = model_column(spec, expected)
                assert np.array_equal(columns[spec.name], want, equal_nan=True), (spec, dtype, edge)


def test_inputs_named_as_no_python_attribute_can_be() -> None:
    """Column names are the manifest's: spaces, keywords, dashes, dunders."""
    odd = [
        InputSpec(name="sepal length (cm)", type="number", nullable=True),
        InputSpec(name="class", type="string", nullable=False),
        InputSpec(name="__init__", type="integer", nullable=False),
        InputSpec(name="a-b", type="boolean", nullable=False),
    ]
    rows = [{"sepal length (cm)": 5.1, "class": "x", "__init__": 3, "a-b": True}] * 60
    bodies = JsonBodies(odd, max_records=100)
    accepted = bodies.accept(orjson.dumps({"instances": rows}))
    assert accepted is not None
    assert list(accepted[0]) == rows
    assert accepted[1]["__init__"].tolist() == [[3.0]] * 60
    assert bodies.accept(orjson.dumps({"instances": [{**rows[0], "f0": 1.0}]})) is None
