"""The input schema from the DataFrame a pipeline is fitted on: pandas dtypes -> JSON types."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from mlvajra.artifact import InputSpec, InputType
from mlvajra.errors import IdentifierColumnWarning, TrainingError

_MIN_ROWS_FOR_ID_WARNING = 20
"""Below this, a few distinct values per row is normal, not a sign of an id."""


class SchemaError(TrainingError):
    """A column cannot become a model input as it is; the message names it and what to do."""


def cast_columns(
    frame: pd.DataFrame, categorical: Sequence[str] = (), numeric: Sequence[str] = ()
) -> pd.DataFrame:
    """`frame` with the columns the user named cast (text or float64), the rest as given."""
    _require_columns(frame, [*categorical, *numeric])
    cast = frame.copy()
    for name in categorical:
        column = cast[name]
        cast[name] = column.astype(object).where(column.isna(), column.astype(str))
    for name in numeric:
        try:
            cast[name] = pd.to_numeric(cast[name], errors="raise").astype("float64")
        except (ValueError, TypeError) as error:
            raise SchemaError(f"column {name!r} is not numeric: {error}") from None
    for name in cast.columns:
        values = cast[name].dropna()
        # A boolean column with a null comes back from Arrow as object: its real dtype is boolean.
        if cast[name].dtype == object and len(values) and all(isinstance(v, bool) for v in values):
            cast[name] = cast[name].astype("boolean")
    return cast


def infer_inputs(
    frame: pd.DataFrame, nullable: Sequence[str] = (), record_dtype: bool = True
) -> list[InputSpec]:
    """One `InputSpec` per column of `frame` (the features, target removed), in order.

    `nullable` names columns that may be missing at prediction time though the data has no
    gap; `record_dtype` keeps each column's pandas dtype so a runner can rebuild the frame.
    Warns (IdentifierColumnWarning) for a text or integer column unique per row.
    """
    _require_columns(frame, nullable)
    if frame.columns.empty:
        raise SchemaError("no input columns left after removing the target and --drop")
    inputs = []
    for name in frame.columns:
        if not isinstance(name, str):
            raise SchemaError(f"column {name!r} needs a text name: JSON records are keyed by text")
        column = frame[name]
        json_type = _json_type(name, column)
        spec = InputSpec(
            name=name,
            type=json_type,
            nullable=bool(column.isna().any()) or name in nullable,
            categories=_categories(name, column, json_type),
            dtype=str(column.dtype) if record_dtype else None,
        )
        if spec.type in {"string", "integer"} and _unique_per_row(column):
            warnings.warn(
                f"column {name!r} is unique per row (an id?) and becomes a required input; "
                f"leave it out with --drop {name} (drop= in Python) unless the model needs it",
                IdentifierColumnWarning,
                stacklevel=3,
            )
        inputs.append(spec)
    return inputs


def _json_type(name: str, column: pd.Series) -> InputType:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        for row, value in column.dropna().items():
            if not isinstance(value, str):
                raise SchemaError(
                    f"column {name!r} holds {type(value).__name__} {value!r} (row {row}), "
                    "not text: cast it with astype(str), or to a number, before fitting"
                )
        return "string"
    raise SchemaError(
        f"column {name!r} has dtype {dtype}, which a JSON record cannot carry: derive numbers or "
        f"text from it (e.g. a year, a day of week, a duration in seconds) or leave it out "
        f"(--drop {name})"
    )


def _categories(name: str, column: pd.Series, json_type: InputType) -> list[str] | None:
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = list(column.dtype.categories)
        if not all(isinstance(value, str) for value in categories):
            raise SchemaError(
                f"column {name!r} is a category of non-text values: use text categories "
                "(astype(str).astype('category')) or the plain numbers"
            )
        return categories
    if json_type == "string":
        return sorted(set(column.dropna()))
    return None


def _unique_per_row(column: pd.Series) -> bool:
    return len(column) >= _MIN_ROWS_FOR_ID_WARNING and column.nunique() == len(column)


def _require_columns(frame: pd.DataFrame, names: Sequence[str]) -> None:
    for name in names:
        if name not in frame.columns:
            raise SchemaError(f"column {name!r} not found; columns: {list(frame.columns)}")
