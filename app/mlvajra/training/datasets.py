"""Training data: the built-in penguins table or a user's data (any kind mlvajra.data reads)."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlvajra.artifact import InputSpec, Task
from mlvajra.data import open_location, read_table
from mlvajra.errors import DataError, TrainingError
from mlvajra.inputs import MISSING_CATEGORY

DEFAULT_NAME = "penguins"
DEFAULT_TARGET = "species"
BUILTIN_SOURCE = "builtin:penguins"
"""How a manifest names the built-in data, so `verify` finds it on any machine."""
_MAX_CLASSES_FOR_INTEGER_TARGET = 20


class DatasetError(TrainingError):
    """The data cannot be used for training; the message says why."""


@dataclass(frozen=True)
class Dataset:
    """A table read for training, with where it came from."""

    frame: pd.DataFrame
    source: str
    sha256: str


def penguins_csv() -> Path:
    """The Palmer penguins CSV (CC0) shipped by the `palmerpenguins` package."""
    return Path(str(importlib.resources.files("palmerpenguins") / "data" / "penguins.csv"))


def read_dataset(path: str | Path | None) -> Dataset:
    """Read any data kind (CSV, Parquet, JSON Lines, SQLite); `None` means the built-in data."""
    if path is None or str(path) == BUILTIN_SOURCE:
        dataset = read_dataset(penguins_csv())
        return Dataset(frame=dataset.frame, source=BUILTIN_SOURCE, sha256=dataset.sha256)
    try:
        kind = open_location(path)
        if not kind.exists():
            raise DatasetError(f"no such data file: {path}")
        frame = read_table(kind.location).to_pandas()
        sha256 = kind.sha256()
    except DataError as error:
        raise DatasetError(str(error)) from None
    if frame.empty:
        raise DatasetError(f"{path} has no rows")
    return Dataset(frame=frame, source=kind.location, sha256=sha256)


def infer_task(target: pd.Series) -> Task:
    """Classification for text, booleans and small integer sets; regression otherwise."""
    if pd.api.types.is_bool_dtype(target) or not pd.api.types.is_numeric_dtype(target):
        return "classification"
    values = target.dropna()
    integral = pd.api.types.is_integer_dtype(target) or bool((values == values.round()).all())
    if integral and values.nunique() <= _MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"


def infer_inputs(
    frame: pd.DataFrame,
    target: str,
    drop: list[str] | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
) -> list[InputSpec]:
    """One `InputSpec` per column except the target: type from the dtype unless overridden."""
    if target not in frame.columns:
        raise DatasetError(f"target column {target!r} not found; columns: {list(frame.columns)}")
    drop, categorical, numeric = drop or [], categorical or [], numeric or []
    for name in [*drop, *categorical, *numeric]:
        if name not in frame.columns:
            raise DatasetError(f"column {name!r} not found; columns: {list(frame.columns)}")
    inputs = []
    for name in frame.columns:
        if name == target or name in drop:
            continue
        column = frame[name]
        nullable = bool(column.isna().any())
        if name in categorical or (
            name not in numeric
            and not pd.api.types.is_numeric_dtype(column)
            and not pd.api.types.is_bool_dtype(column)
        ):
            values = column.dropna()
            if not all(isinstance(value, str) for value in values):
                values = values.astype(str)
            categories = sorted(set(values))
            inputs.append(
                InputSpec(name=name, type="string", nullable=nullable, categories=categories)
            )
        elif pd.api.types.is_bool_dtype(column):
            inputs.append(InputSpec(name=name, type="boolean", nullable=nullable))
        elif pd.api.types.is_integer_dtype(column):
            inputs.append(InputSpec(name=name, type="integer", nullable=nullable))
        elif pd.api.types.is_numeric_dtype(column):
            inputs.append(InputSpec(name=name, type="number", nullable=nullable))
        else:
            raise DatasetError(f"column {name!r} is not numeric: use --categorical {name}")
    if not inputs:
        raise DatasetError("no input columns left after removing the target and --drop")
    return inputs


def model_frame(frame: pd.DataFrame, inputs: list[InputSpec]) -> pd.DataFrame:
    """The columns as the pipeline sees them: float64 numbers, text with a missing marker."""
    columns: dict[str, object] = {}
    for spec in inputs:
        column = frame[spec.name]
        if spec.type == "string":
            text = column.astype(object).where(column.notna(), MISSING_CATEGORY)
            columns[spec.name] = np.asarray(
                [value if isinstance(value, str) else str(value) for value in text], dtype=object
            )
        else:
            columns[spec.name] = column.astype("float64").to_numpy()
    return pd.DataFrame(columns, index=frame.index)
