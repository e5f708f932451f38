"""`mlvajra predict --debug`: the debug path's output as extra columns of the predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlvajra.artifact import Manifest
from mlvajra.explain.debug import Debugger, Explanation
from mlvajra.runners import Columns

CONTRIBUTION_PREFIX = "contribution."
"""Before each model input's name: what it added to the answer (`contribution.base` is the base)."""


def debug_table(explanation: Explanation) -> pa.Table:
    """One column per step output (`<step>.<feature>`) and per contribution, one row per record."""
    columns: dict[str, pa.Array] = {}
    for step in explanation.steps:
        for index, feature in enumerate(step.features):
            columns[f"{step.name}.{feature}"] = _array(step.values[:, index])
    explained = explanation.contributions
    if explained.values is not None and explained.base is not None:
        for index, feature in enumerate(explained.features):
            columns[f"{CONTRIBUTION_PREFIX}{feature}"] = pa.array(explained.values[:, index])
        columns[f"{CONTRIBUTION_PREFIX}base"] = pa.array(explained.base)
        columns[f"{CONTRIBUTION_PREFIX}explains"] = pa.array(explained.explains)
    return pa.table(columns)


def debug_annotation(model_dir: Path, manifest: Manifest) -> Callable[[Columns], pa.Table]:
    """The `annotate` hook of `batch.scoring.score`: validated columns in, debug columns out."""
    debugger = Debugger.load(model_dir, manifest)

    def annotate(columns: Columns) -> pa.Table:
        return debug_table(debugger.explain(columns))

    return annotate


def _array(values: npt.NDArray[Any]) -> pa.Array:
    """Numbers as float64; anything else (an imputed text column) as text."""
    try:
        return pa.array(values.astype(np.float64))
    except (TypeError, ValueError):
        return pa.array([None if value is None else str(value) for value in values])
