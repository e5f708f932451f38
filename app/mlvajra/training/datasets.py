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
