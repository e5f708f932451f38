"""`Predictor`: one loaded artifact, input columns in, typed predictions out.

It knows no JSON, HTTP or Arrow: the API's codec, batch files and Spark all call it with columns
they validated by the rules of `mlvajra.inputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.runners import Columns, ModelRunner


@dataclass(frozen=True)
class Predictions:
    """Raw model output for a batch: labels (or values) and class probabilities."""

    labels: npt.NDArray[Any]
    probabilities: npt.NDArray[Any] | None


def model_column(spec: InputSpec, values: Sequence[Any]) -> npt.NDArray[Any]:
    """An input's validated values as the (rows, 1) array both model formats take: float64 for
    numbers, integers and booleans (null -> NaN), objects for text (null -> the marker)."""
    if spec.type == "string":
        text = [MISSING_CATEGORY if value is None else value for value in values]
        return np.array(text, dtype=object).reshape(-1, 1)
    # None becomes NaN here, which the pipeline's imputer fills.
    return np.array(values, dtype=np.float64).reshape(-1, 1)


class Predictor:
    """Scores validated input with the artifact's runner."""

    def __init__(self, manifest: Manifest, runner: ModelRunner) -> None:
        self.manifest = manifest
        self._runner = runner

    def columns(self, records: Sequence[dict[str, Any]]) -> dict[str, npt.NDArray[Any]]:
        """One (rows, 1) array per input (`model_column`)."""
        return {
            spec.name: model_column(spec, [record[spec.name] for record in records])
            for spec in self.manifest.inputs
        }

    def run(self, records: Sequence[dict[str, Any]]) -> Predictions:
        """Score validated records."""
        return self.run_columns(self.columns(records))

    def run_columns(self, columns: Columns) -> Predictions:
        """Score model input columns that passed validation."""
        labels, probabilities = self._runner.run(columns)
        return Predictions(labels=labels, probabilities=probabilities)
