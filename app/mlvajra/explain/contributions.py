"""Per-feature contributions to one answer, by what the final estimator supports.

Tree ensembles: exact TreeSHAP (the `shap` package). Linear models: coefficient x value, with
the intercept as the base. Anything else: none, and the method says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import Manifest
from mlvajra.predictor import Predictions

_TREE_UNITS = {"probability": "probability", "log_odds": "log-odds", "raw_value": "raw score"}


@dataclass(frozen=True)
class Contributions:
    """What each feature added to one answer: base + sum(values) == what `explains` names."""

    method: str
    features: list[str]
    values: npt.NDArray[np.float64] | None
    """(rows, features), or None when the estimator offers no contributions."""
    base: npt.NDArray[np.float64] | None
    explains: list[str]
    """Per row: the quantity the contributions add up to ("probability of Adelie")."""


class Contributor:
    """Computes contributions for the final estimator; its explainer is built once."""

    def __init__(self, model: Any, manifest: Manifest) -> None:
        self._model = model
        self._manifest = manifest
        self._kind = type(model).__name__
        self._linear = hasattr(model, "coef_") and hasattr(model, "intercept_")
        self._explainer: Any = None
        self._explainer_failed = False

    def __call__(
        self, data: npt.NDArray[Any], features: list[str], predictions: Predictions
    ) -> Contributions:
        """Contributions of every model input for every row, or why there are none."""
        try:
            matrix = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            reason = f"not available for {self._kind}: its inputs are not all numbers"
            return _unavailable(reason, features)
        if self._linear:
            return _linear(self._model, matrix, features, predictions, self._manifest)
        explainer = self._tree_explainer()
        if explainer is None:
            return _unavailable(f"not available for {self._kind}", features)
        return _tree(explainer, self._kind, matrix, features, predictions, self._manifest)

    def _tree_explainer(self) -> Any:
        if self._explainer is None and not self._explainer_failed:
            import shap

            try:
                self._explainer = shap.TreeExplainer(self._model)
            except Exception:  # shap raises its own and plain exceptions for models it cannot read
                self._explainer_failed = True
        return self._explainer


def _tree(
    explainer: Any,
    kind: str,
    matrix: npt.NDArray[np.float64],
    features: list[str],
    predictions: Predictions,
    manifest: Manifest,
) -> Contributions:
    import shap

    values = np.asarray(explainer.shap_values(matrix), dtype=np.float64)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    output = str(explainer.model.tree_output)
    units = _TREE_UNITS.get(output, output)
    method = f"exact TreeSHAP (shap {shap.__version__}) for {kind}, in {units}"
    rows = len(matrix)
    if manifest.task == "regression":
        explains = ["the predicted value"] * rows
        return Contributions(method, features, values, np.full(rows, expected[0]), explains)
    classes = list(manifest.classes or [])
    if values.ndim == 3:  # (rows, features, classes): the predicted class's column
        chosen = _class_indexes(predictions)
        explains = [f"{units} of {classes[index]}" for index in chosen]
        picked = values[np.arange(rows), :, chosen]
        return Contributions(method, features, picked, expected[chosen], explains)
    # One output for two classes: it speaks for the second class.
    explains = [f"{units} of {classes[-1]}"] * rows
    return Contributions(method, features, values, np.full(rows, expected[0]), explains)


def _linear(
    model: Any,
    matrix: npt.NDArray[np.float64],
    features: list[str],
    predictions: Predictions,
    manifest: Manifest,
) -> Contributions:
    coefficients = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercepts = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    kind = type(model).__name__
    method = f"coefficient x value for {kind}, the intercept as base"
    if manifest.task == "regression" or len(coefficients) == 1:
        what = "the predicted value"
        if manifest.task == "classification":
            what = f"the decision function of {(manifest.classes or ['?'])[-1]}"
        explains = [what] * len(matrix)
        base = np.full(len(matrix), intercepts[0])
        return Contributions(method, features, matrix * coefficients[0], base, explains)
    classes = list(manifest.classes or [])
    chosen = _class_indexes(predictions)
    explains = [f"the decision function of {classes[index]}" for index in chosen]
    return Contributions(
        method, features, matrix * coefficients[chosen], intercepts[chosen], explains
    )


def _class_indexes(predictions: Predictions) -> npt.NDArray[np.intp]:
    """Each row's predicted class, as a column index of the probabilities."""
    return np.asarray(np.argmax(np.asarray(predictions.probabilities), axis=1), dtype=np.intp)


def _unavailable(method: str, features: list[str]) -> Contributions:
    return Contributions(method, features, None, None, [])
