"""Score a batch's rows sorted by one numeric input, and hand the predictions back in their order.

A forest walks every tree for every row; rows that follow each other with close values take the
same branches, so the processor predicts them. On the default penguins forest, onnxruntime spent
20 to 50 % fewer CPU seconds per row with a batch sorted by one number, distinct rows or not
(bench/forest.py). Each row is scored alone either way: the predictions are the same, only the
order of the work changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import InputSpec
from mlvajra.predictor import Predictions, Predictor
from mlvajra.runners import Columns

_SAMPLE_ROWS = 1_024
"""Rows whose distinct values choose the sort column: enough to tell, cheap next to a batch."""


def sort_column(inputs: list[InputSpec], columns: Columns) -> str | None:
    """The numeric input with the most distinct values in the batch's first rows (the finest
    order: neighbours are closest on it); the first such in the manifest on a tie; None if no
    input is numeric."""
    best: tuple[int, str] | None = None
    for spec in inputs:
        if spec.type == "string":
            continue
        distinct = len(np.unique(columns[spec.name][:_SAMPLE_ROWS]))
        if best is None or distinct > best[0]:
            best = (distinct, spec.name)
    return None if best is None else best[1]


def run_sorted(predictor: Predictor, columns: Columns) -> Predictions:
    """`predictor.run_columns(columns)`, the rows scored in the order of `sort_column`."""
    key = sort_column(predictor.manifest.inputs, columns)
    if key is None:
        return predictor.run_columns(columns)
    order = np.argsort(columns[key].reshape(-1), kind="stable")
    scored = predictor.run_columns({name: values[order] for name, values in columns.items()})
    probabilities = scored.probabilities
    return Predictions(
        labels=_unsorted(scored.labels, order),
        probabilities=None if probabilities is None else _unsorted(probabilities, order),
    )


def _unsorted(values: npt.NDArray[Any], order: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
    """Row `order[i]` of the input gets row `i` of `values`."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored
