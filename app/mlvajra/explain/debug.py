"""The one debug path: each pipeline step's output for some records, the model's answer, and why.

It walks the unpickled scikit-learn pipeline by duck typing (`steps`, `transform`,
`get_feature_names_out`), so a pipeline of any shape works and nothing here imports scikit-learn.
ONNX artifacts are explained with their joblib twin: the graph keeps no feature names and cannot
give contributions, and parity at export bounds how far the two answers can differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import JOBLIB_FILE, Manifest
from mlvajra.explain.contributions import Contributions, Contributor
from mlvajra.folder import read_verified
from mlvajra.predictor import Predictions
from mlvajra.runners import Columns, JoblibRunner, read_code


@dataclass(frozen=True)
class Step:
    """What one pipeline step turned its input into: named columns, one row per record."""

    name: str
    estimator: str
    features: list[str]
    values: npt.NDArray[Any]


@dataclass(frozen=True)
class Explanation:
    """The records' way through the pipeline: every step, the model's answer, contributions."""

    steps: list[Step]
    predictions: Predictions
    contributions: Contributions


class Debugger:
    """Explains records with the artifact's pickled pipeline (built only from verified bytes)."""

    def __init__(self, manifest: Manifest, runner: JoblibRunner) -> None:
        self.manifest = manifest
        self.runner = runner
        pipeline = runner.pipeline
        steps = list(getattr(pipeline, "steps", None) or [("model", pipeline)])
        self._transforms = [(name, step) for name, step in steps[:-1] if _is_transform(step)]
        self.model_name, self.model = steps[-1]
        self._contributor = Contributor(self.model, manifest)

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest) -> Debugger:
        """Unpickle the artifact's model.joblib from the bytes whose sha256 matched."""
        data = read_verified(model_dir, manifest, JOBLIB_FILE)
        return cls(manifest, JoblibRunner(data, manifest, read_code(model_dir, manifest)))

    @property
    def estimator(self) -> str:
        """The final estimator's class name."""
        return type(self.model).__name__

    def explain(self, columns: Columns) -> Explanation:
        """Run validated model input columns through every step, the model and its explainer."""
        data: Any = self.runner.frame(columns)
        names = [spec.name for spec in self.manifest.inputs]
        steps: list[Step] = []
        for name, transform in self._transforms:
            data = transform.transform(data)
            values = _dense(data)
            names = _feature_names(transform, names, values.shape[1])
            steps.append(Step(name, type(transform).__name__, names, values))
        predictions = self._predict(data)
        explained = self._contributor(_dense(data), names, predictions)
        return Explanation(steps=steps, predictions=predictions, contributions=explained)

    def _predict(self, data: Any) -> Predictions:
        if self.manifest.task == "classification":
            probabilities = np.asarray(self.model.predict_proba(data), dtype=np.float64)
            labels = np.asarray(self.model.classes_)[np.argmax(probabilities, axis=1)]
            return Predictions(labels=labels, probabilities=probabilities)
        values = np.asarray(self.model.predict(data), dtype=np.float64).reshape(-1)
        return Predictions(labels=values, probabilities=None)


def _is_transform(step: Any) -> bool:
    """Pipeline steps may be None or "passthrough": they change nothing."""
    return step is not None and not isinstance(step, str) and hasattr(step, "transform")


def _dense(data: Any) -> npt.NDArray[Any]:
    """A 2-D array of a step's output: sparse matrices densified, DataFrames as arrays."""
    if hasattr(data, "toarray"):
        data = data.toarray()
    elif hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data)
    return array.reshape(len(array), -1)


def _feature_names(step: Any, names_in: list[str], width: int) -> list[str]:
    """The step's own output names where it has them, else `<step class>_<index>`."""
    try:
        names = [str(name) for name in step.get_feature_names_out(names_in)]
    except Exception:  # get_feature_names_out is missing or refuses: unnamed columns
        names = []
    if len(names) == width:
        return names
    return [f"{type(step).__name__.lower()}_{index}" for index in range(width)]
