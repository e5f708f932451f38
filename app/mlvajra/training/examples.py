"""Rows the trainer picks from the data: the parity rows and the manifest's input example."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlvajra.artifact import InputSpec
from mlvajra.inputs import MISSING_CATEGORY

PARITY_ROWS = 10_000
"""At most this many rows (a seeded sample) prove ONNX parity: every row of 1M would cost minutes
of inference and a 180 MB reference.npz, and 10,000 already cover the model's leaves."""


def parity_rows(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The rows the ONNX graph is checked on: all of a small table, a seeded sample of a big one."""
    if len(features) <= PARITY_ROWS:
        return features
    return features.sample(n=PARITY_ROWS, random_state=seed)


def input_example(
    features: pd.DataFrame, inputs: list[InputSpec], held_out: pd.Index
) -> dict[str, Any] | None:
    """The first held-out row with every input present, as a JSON record; None if there is none."""
    rows = features.loc[held_out, [spec.name for spec in inputs]]
    complete = np.ones(len(rows), dtype=np.bool_)
    for spec in inputs:
        column = rows[spec.name]
        complete &= column.notna().to_numpy()
        if spec.type == "string":
            complete &= (column != MISSING_CATEGORY).to_numpy()
    if not complete.any():
        return None
    row = rows[complete].iloc[0]
    return {spec.name: _json_value(row[spec.name], spec) for spec in inputs}


def _json_value(value: Any, spec: InputSpec) -> Any:
    if spec.type == "string":
        return str(value)
    if spec.type == "integer":
        return int(value)
    if spec.type == "boolean":
        return bool(value)
    return float(value)
