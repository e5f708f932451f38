"""The input schema comes from the DataFrame's dtypes; what JSON cannot carry is refused by name."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from mlvajra.errors import IdentifierColumnWarning
from mlvajra.training.schema import SchemaError, infer_inputs


def test_each_dtype_maps_to_its_json_type_and_keeps_its_dtype() -> None:
    frame = pd.DataFrame(
        {
            "price": [1.5, 2.5, 3.0],
            "rooms": pd.array([1, None, 3], dtype="Int64"),
            "floor": np.array([0, 1, 2], dtype="int32"),
            "garden": [True, False, True],
            "zone": pd.Categorical(["b", "a", "b"], categories=["a", "b", "c"]),
            "street": ["x", None, "y"],
        }
    )
    specs = {spec.name: spec for spec in infer_inputs(frame, nullable=["price"])}
    assert [(s.type, s.nullable) for s in specs.values()] == [
        ("number", True),  # no gap in the data, but the user said so
        ("integer", True),
        ("integer", False),
        ("boolean", False),
        ("string", False),
        ("string", True),
    ]
    assert specs["zone"].categories == ["a", "b", "c"]  # the dtype's, not only those seen
    assert specs["street"].categories == ["x", "y"]
    assert [s.dtype for s in specs.values()] == [
        "float64",
        "Int64",
        "int32",
        "bool",
        "category",
        str(frame["street"].dtype),
    ]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pd.to_datetime(["2024-01-01", "2024-01-02"]), "dtype datetime64"),
        (pd.to_timedelta([1, 2], unit="s"), "dtype timedelta64"),
        (np.array([1 + 2j, 3j]), "dtype complex128"),
        (pd.period_range("2024-01", periods=2, freq="M"), "dtype period"),
        (np.array(["a", 3], dtype=object), "holds int 3 (row 1), not text"),
        (pd.Categorical([1, 2]), "category of non-text values"),
    ],
    ids=["datetime", "timedelta", "complex", "period", "mixed-object", "numeric-category"],
)
def test_what_json_cannot_carry_is_refused_naming_the_column(column: object, message: str) -> None:
    frame = pd.DataFrame({"fine": [1.0, 2.0], "when": column})
    with pytest.raises(SchemaError, match=f"column 'when' .*{re.escape(message)}") as refused:
        infer_inputs(frame)
    assert "\n" not in str(refused.value)


def test_a_column_unique_per_row_warns_that_it_becomes_a_required_input() -> None:
    rows = 30
    frame = pd.DataFrame(
        {"id": range(rows), "code": [f"c{i}" for i in range(rows)], "x": np.linspace(0, 1, rows)}
    )
    with pytest.warns(IdentifierColumnWarning) as caught:
        infer_inputs(frame)
    # Integers and text unique per row are ids; distinct floats are just measurements.
    assert sorted(str(w.message).split("'")[1] for w in caught) == ["code", "id"]
    assert "--drop id" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infer_inputs(frame[["x"]].assign(level=[i % 3 for i in range(rows)]))
