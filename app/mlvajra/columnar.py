"""Records accepted a column at a time, for the bodies with nothing wrong in them.

A parsed /predict body whose records all hold exactly the model's inputs, each value of its
input's type and within the limits of `mlvajra.inputs`, is accepted here with a few checks per
input over the whole column, and the model columns are built on the way. Anything else gives
None, and the caller judges the body record by record (pydantic, `mlvajra.inputs`), which names
every problem. So this may hand over what is valid; it never accepts what the rules refuse:
tests/test_columnar.py checks that the two agree on valid and invalid bodies alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import InputSpec
from mlvajra.inputs import FLOAT32_MAX, INTEGER_LIMIT, MAX_STRING_LENGTH
from mlvajra.predictor import model_column

Records = list[dict[str, Any]]
_NULL = type(None)


def accept(
    document: Any, inputs: Sequence[InputSpec], max_records: int
) -> tuple[Records, dict[str, npt.NDArray[Any]]] | None:
    """(the records, as validation would give them, and their model columns), or None."""
    if type(document) is not dict or len(document) != 1:
        return None
    records = document.get("instances")
    if type(records) is not list or not 1 <= len(records) <= max_records:
        return None
    # As many keys as inputs, and each input's key present: exactly the inputs.
    if set(map(type, records)) != {dict} or set(map(len, records)) != {len(inputs)}:
        return None
    columns: dict[str, npt.NDArray[Any]] = {}
    for spec in inputs:
        try:
            values = [record[spec.name] for record in records]
        except KeyError:
            return None
        column = _column(spec, values, records)
        if column is None:
            return None
        columns[spec.name] = column
    return records, columns


def _column(spec: InputSpec, values: list[Any], records: Records) -> npt.NDArray[Any] | None:
    """The input's model column if every value passes the rules (converting as validation
    would), else None."""
    types = set(map(type, values))
    if _NULL in types:
        if not spec.nullable:
            return None
        types.discard(_NULL)
    if spec.type == "string":
        if types - {str} or max(map(len, filter(None, values)), default=0) > MAX_STRING_LENGTH:
            return None
        return model_column(spec, values)
    allowed = {bool} if spec.type == "boolean" else {int, float}  # a bool is never a number
    if types - allowed:
        return None
    column = model_column(spec, values)
    if spec.type == "boolean" or not types:
        return column
    present = column[~np.isnan(column)]
    name = spec.name
    if spec.type == "number":
        if np.abs(present).max() > FLOAT32_MAX:
            return None
        if int in types:  # validation gives a number sent as 3 as 3.0
            _convert(records, name, int, float)
        return column
    # Strictly below 2**53: every such float64 is the integer that was sent.
    if np.abs(present).max() >= INTEGER_LIMIT:
        return None
    if float in types:  # "2007.0" is an integer (`mlvajra.inputs.integral`); "2007.5" is not
        if not np.array_equal(present, np.trunc(present)):
            return None
        _convert(records, name, float, int)
    return column


def _convert(records: Records, name: str, source: type, target: Any) -> None:
    """Make every `source` value of input `name` a `target` value, as validation does."""
    for record in records:
        value = record[name]
        if type(value) is source:
            record[name] = target(value)
