"""The batch validation over Arrow columns decides exactly as the API's per-record validation."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.batch.validation import check_column, validate_batch
from mlvajra.data.sqlite import arrow_column
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from tests.fixtures import validate_rows

# Small models of every input type, nullable or not, so each rule is met often.
SPECS = [
    InputSpec(name="n", type="number", nullable=False),
    InputSpec(name="n0", type="number", nullable=True),
    InputSpec(name="i", type="integer", nullable=False),
    InputSpec(name="i0", type="integer", nullable=True),
    InputSpec(name="s", type="string", nullable=False, categories=["a", "b"]),
    InputSpec(name="s0", type="string", nullable=True, categories=["a", "b"]),
    InputSpec(name="b", type="boolean", nullable=False),
    InputSpec(name="b0", type="boolean", nullable=True),
]
# The reading of CSV text the module docstring promises, written plainly.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


@pytest.fixture(scope="module")
def predictor(artifact_dir: Path) -> Predictor:
    """A predictor whose record model has SPECS as inputs (the runner is never called here)."""
    manifest = read_manifest(artifact_dir)
    runner = load_runner(artifact_dir, manifest, manifest.format)
    custom = Manifest.model_validate(manifest.model_dump() | {"inputs": SPECS})
    return Predictor(custom, runner)


def _text_value(text: str | None, spec: InputSpec) -> Any:
    """What a CSV cell means for a field of `spec`'s type (None is an empty cell)."""
    if text is None:
        return None
    if spec.type == "string":
        return text
    if spec.type == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if spec.type == "integer" and _INTEGER.fullmatch(text):
        return int(text)  # exactly, as JSON digits are read (a float would round 2**53 + 1)
    if _NUMBER.fullmatch(text) or _NOT_FINITE.fullmatch(text):
        return float(text)
    return text


def _assert_same_decisions(
    predictor: Predictor, rows: list[dict[str, Any]], batch: Any, untyped: bool
) -> None:
    records, kept, problems = validate_rows(predictor.manifest, rows)
    result = validate_batch(predictor.manifest.inputs, batch, untyped)
    assert np.flatnonzero(result.valid).tolist() == kept
    assert result.problems == problems
    expected = predictor.columns(records)
    for name, column in expected.items():
        got = result.columns[name]
        assert got.shape == column.shape, name
        if column.dtype == object:
            assert got.tolist() == column.tolist(), name
        else:
            assert np.array_equal(got, column, equal_nan=True), name


# Values at the edges of the API's limits (float32 range, exact float64 integers, string length).
_EDGE_NUMBERS = [3.4028234663852886e38, 3.4028235677973366e38, -3.4028235677973366e38, 1e39]
_EDGE_INTEGERS = [2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**63 - 1, -(2**63)]
_EDGE_TEXTS = ["x" * 1000, "x" * 1001, "\u00e9" * 1001]
_integers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from(_EDGE_INTEGERS)
)
_floats = st.one_of(st.floats(), st.sampled_from(_EDGE_NUMBERS))
_texts = st.one_of(st.text(max_size=5), st.sampled_from(_EDGE_TEXTS))
_json_scalars = st.one_of(st.none(), st.booleans(), _integers, _floats, _texts)


@st.composite
def _typed_columns(draw: st.DrawFn) -> dict[str, list[Any]]:
    rows = draw(st.integers(min_value=1, max_value=12))
    columns: dict[str, list[Any]] = {}
    for spec in SPECS:
        # One Arrow type per column as in Parquet, or mixed types as a SQLite column can hold.
        kind = draw(st.sampled_from(["bool", "int", "float", "str", "null", "mixed"]))
        strategy = {
            "bool": st.one_of(st.none(), st.booleans()),
            "int": st.one_of(st.none(), _integers),
            "float": st.one_of(st.none(), _floats),
            "str": st.one_of(st.none(), _texts),
            "null": st.none(),
            "mixed": _json_scalars,
        }[kind]
        columns[spec.name] = draw(st.lists(strategy, min_size=rows, max_size=rows))
    return columns


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=_typed_columns())
def test_typed_columns_decide_as_the_api(
    predictor: Predictor, columns: dict[str, list[Any]]
) -> None:
    batch = pa.table({name: arrow_column(values) for name, values in columns.items()})
    rows = batch.to_pylist()
    _assert_same_decisions(predictor, rows, batch, untyped=False)


_number_texts = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False).map(repr),
    st.from_regex(
        r"[+-]?(?:[0-9]{1,4}\.?[0-9]{0,3}|\.[0-9]{1,3})(?:[eE][+-]?[0-9]{1,3})?", fullmatch=True
    ),
    st.sampled_from(["nan", "NaN", "-inf", "+Infinity", "INF", "1e400", "-1e400", "1e-400"]),
    st.sampled_from([repr(value) for value in _EDGE_NUMBERS] + ["3.4028235e38", "-1e39"]),
    st.sampled_from([str(value) for value in _EDGE_INTEGERS] + ["+0009007199254740993", "-000"]),
    st.sampled_from(_EDGE_TEXTS),
    st.sampled_from(
        ["true", "False", "TRUE", "1", "0", "", " 1", "1 ", "1_0", "0x10", "e5", "1e", "."]
    ),
    st.text(max_size=4),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_csv_text_decides_as_the_api(predictor: Predictor, data: st.DataObject) -> None:
    rows = data.draw(st.integers(min_value=1, max_value=12))
    # Often every cell of a column reads well, so the fast whole-column cast is exercised too.
    clean = data.draw(st.booleans())
    cells = (
        st.one_of(st.none(), _number_texts.filter(lambda t: bool(_NUMBER.fullmatch(t))))
        if clean
        else st.one_of(st.none(), _number_texts)
    )
    texts = {spec.name: data.draw(st.lists(cells, min_size=rows, max_size=rows)) for spec in SPECS}
    batch = pa.table({name: pa.array(values, type=pa.string()) for name, values in texts.items()})
    records = [
        {spec.name: _text_value(texts[spec.name][row], spec) for spec in SPECS}
        for row in range(rows)
    ]
    _assert_same_decisions(predictor, records, batch, untyped=True)


def test_examples_of_each_rule(predictor: Predictor) -> None:
    texts = {
        "n": ["1.5", "abc", "nan", ""],
        "n0": ["", "2", "inf", "x"],
        "i": ["3", "3.5", "+4", "2007.0"],
        "i0": ["", "1e3", "7", ""],
        "s": ["a", "", "zz", "12"],
        "s0": ["", "b", "", ""],
        "b": ["true", "FALSE", "yes", "1"],
        "b0": ["", "True", "", "no"],
    }
    batch = pa.table(
        {k: pa.array([v or None for v in vs], type=pa.string()) for k, vs in texts.items()}
    )
    result = validate_batch(predictor.manifest.inputs, batch, True)
    assert result.valid.tolist() == [True, False, False, False]
    reasons = {(p.row, p.field): p.message for p in result.problems}
    assert reasons[(1, "i")] == "must be an integer"
    assert reasons[(1, "n")] == "must be a number"
    assert reasons[(2, "n")] == "must be a finite number (not NaN or Infinity)"
    assert reasons[(1, "s")] == "must be a string"
    assert reasons[(2, "b")] == "must be a boolean"
    assert math.isnan(float(result.columns["n0"][0, 0]))


@pytest.mark.parametrize(
    "array",
    [
        pa.array(["a", None, "b"], type=pa.large_string()),
        pa.array(["a", None, "b"], type=pa.string_view()),
        pa.array(["a", None, "b"]).dictionary_encode(),
    ],
    ids=["large_string", "string_view", "dictionary"],
)
def test_every_text_encoding_is_text(array: pa.Array) -> None:
    plain = pa.array(["a", None, "b"])
    for spec in (SPECS[4], SPECS[5]):
        values, codes = check_column(array, spec, untyped_text=False)
        expected_values, expected_codes = check_column(plain, spec, untyped_text=False)
        assert values.tolist() == expected_values.tolist()
        assert codes.tolist() == expected_codes.tolist()
