"""The metric, chosen up front and recorded, and the baselines every model is measured against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    get_scorer,
    get_scorer_names,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlvajra.artifact import Baseline, InputSpec, MetricRecord, Metrics, Task
from mlvajra.errors import TrainingError
from mlvajra.training.datasets import model_frame
from mlvajra.training.usercode import load_callable

Response = Literal["predict", "predict_proba", "decision_function"]

_SHORT: dict[str, tuple[Task, bool, Callable[[Any, Any], float]]] = {
    "f1_macro": ("classification", True, lambda y, p: f1_score(y, p, average="macro")),
    "accuracy": ("classification", True, accuracy_score),
    "rmse": ("regression", False, root_mean_squared_error),
    "mae": ("regression", False, mean_absolute_error),
    "r2": ("regression", True, r2_score),
}
"""mlvajra's short names: the metric's own value, lower or higher better."""
DEFAULT_METRIC: dict[Task, str] = {"classification": "f1_macro", "regression": "rmse"}


@dataclass(frozen=True)
class MetricDefinition:
    """A metric and which direction is better; `record` goes into the manifest."""

    name: str
    source: Literal["mlvajra", "sklearn", "user"]
    greater_is_better: bool
    response: Response = "predict"
    function: Callable[[Any, Any], float] | None = None
    """(y_true, y_pred) -> float, for the short names and the user's functions."""

    def evaluate(self, estimator: Any, features: pd.DataFrame, target: Any) -> float:
        """The metric of a fitted estimator on these rows."""
        try:
            if self.function is None:
                return float(get_scorer(self.name)(estimator, features, target))
            return float(self.function(target, estimator.predict(features)))
        except Exception as error:  # the user's metric or scorer can raise anything
            first_line = f"{type(error).__name__}: {error}".splitlines()[0]
            raise TrainingError(
                f"metric {self.name} cannot score this model: {first_line}"
            ) from None

    def score(self, y_true: Any, y_pred: Any) -> float:
        """The metric for predictions already made (live labels, say), without the model."""
        if self.response != "predict":
            raise TrainingError(f"metric {self.name} scores {self.response}, not labels or values")
        return self.evaluate(_Predicted(np.asarray(y_pred)), pd.DataFrame(), y_true)

    def better(self, value: float, than: float) -> bool:
        """Whether `value` beats `than` in this metric's direction."""
        return value > than if self.greater_is_better else value < than

    def record(self) -> MetricRecord:
        """What the manifest keeps, enough for `metric_from_record`."""
        return MetricRecord(
            name=self.name,
            source=self.source,
            greater_is_better=self.greater_is_better,
            response=self.response,
        )


class _Predicted(BaseEstimator):  # type: ignore[misc]
    """Stands in for an estimator whose predictions are already known."""

    def __init__(self, predictions: np.ndarray) -> None:
        self.predictions = predictions

    def predict(self, features: object) -> np.ndarray:
        return self.predictions


def resolve_metric(task: Task, name: str | None) -> MetricDefinition:
    """A short name, any scikit-learn scorer name, or the user's `module:function`.

    Scorer names are scikit-learn's, sign included (`neg_log_loss`: greater is better). A user's
    function (y_true, y_pred) -> float is better when greater unless it carries the attribute
    `greater_is_better = False`.
    """
    name = name or DEFAULT_METRIC[task]
    if name in _SHORT:
        metric_task, greater, function = _SHORT[name]
        if metric_task != task:
            raise TrainingError(f"metric {name} does not fit a {task} task")
        return MetricDefinition(name, "mlvajra", greater, "predict", function)
    if ":" in name:
        function = load_callable(name, "--metric")
        return MetricDefinition(
            name, "user", bool(getattr(function, "greater_is_better", True)), "predict", function
        )
    if name not in get_scorer_names():
        raise TrainingError(
            f"unknown metric {name!r}: use {', '.join(_SHORT)}, a scikit-learn scorer name "
            "(sklearn.metrics.get_scorer_names()) or module:function"
        )
    method = getattr(get_scorer(name), "_response_method", "predict")
    response: Response = "predict" if method == "predict" else "predict_proba"
    return MetricDefinition(name, "sklearn", True, response)


def metric_from_record(record: MetricRecord) -> MetricDefinition:
    """The manifest's metric, ready to score again (e.g. on live labels)."""
    if record.source == "mlvajra":
        _, greater, function = _SHORT[record.name]
        return MetricDefinition(record.name, "mlvajra", greater, record.response, function)
    if record.source == "user":
        function = load_callable(record.name, "metric")
        return MetricDefinition(
            record.name, "user", record.greater_is_better, record.response, function
        )
    return MetricDefinition(record.name, "sklearn", True, record.response)


def baseline_models(inputs: list[InputSpec], task: Task, seed: int) -> dict[str, BaseEstimator]:
    """The dummy (the class shares as probabilities, or the mean) and a plain linear model on
    one-hot text and scaled numbers: what the user's pipeline is worth beyond the obvious."""
    numeric = [spec.name for spec in inputs if spec.type != "string"]
    text = [spec.name for spec in inputs if spec.type == "string"]
    view = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("text", OneHotEncoder(handle_unknown="ignore"), text),
        ]
    )
    if task == "classification":
        linear: BaseEstimator = LogisticRegression(max_iter=1000, random_state=seed)
        dummy: BaseEstimator = DummyClassifier(strategy="prior")
    else:
        linear, dummy = Ridge(), DummyRegressor(strategy="mean")
    return {"dummy": dummy, "linear": Pipeline([("view", view), ("model", linear)])}


def score_baselines(
    inputs: list[InputSpec],
    task: Task,
    metric: MetricDefinition,
    fit_rows: tuple[pd.DataFrame, Any],
    eval_rows: tuple[pd.DataFrame, Any],
    fitted_on: Literal["training rows", "evaluation rows"],
    seed: int,
) -> list[Baseline]:
    """Each baseline fitted on `fit_rows` and scored on `eval_rows`; the dummy first."""
    (x_fit, y_fit), (x_eval, y_eval) = fit_rows, eval_rows
    fit_view, eval_view = model_frame(x_fit, inputs), model_frame(x_eval, inputs)
    baselines = []
    for name, model in baseline_models(inputs, task, seed).items():
        model.fit(fit_view, y_fit)
        value = metric.evaluate(model, eval_view, y_eval)
        estimator = type(model.steps[-1][1] if isinstance(model, Pipeline) else model).__name__
        baselines.append(
            Baseline(
                name=name,  # type: ignore[arg-type]
                estimator=estimator,
                metrics=Metrics(name=metric.name, value=value),
                fitted_on=fitted_on,
            )
        )
    return baselines
