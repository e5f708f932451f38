"""Honest evaluation: a held-out split, cross-validation on the rest, a dummy baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    make_scorer,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline

from mlvajra.artifact import Metrics, Task
from mlvajra.errors import TrainingError

TEST_SIZE = 0.2
CV_FOLDS = 5


@dataclass(frozen=True)
class MetricDefinition:
    """A metric and which direction is better."""

    name: str
    task: Task
    greater_is_better: bool

    def score(self, y_true: Any, y_pred: Any) -> float:
        """The metric's value for these predictions."""
        return float(_FUNCTIONS[self.name](y_true, y_pred))


_FUNCTIONS: dict[str, Any] = {
    "f1_macro": lambda y, p: f1_score(y, p, average="macro"),
    "accuracy": accuracy_score,
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2_score,
}
METRICS = {
    "f1_macro": MetricDefinition("f1_macro", "classification", True),
    "accuracy": MetricDefinition("accuracy", "classification", True),
    "rmse": MetricDefinition("rmse", "regression", False),
    "mae": MetricDefinition("mae", "regression", False),
    "r2": MetricDefinition("r2", "regression", True),
}
DEFAULT_METRIC: dict[Task, str] = {"classification": "f1_macro", "regression": "rmse"}


class EvaluationError(TrainingError):
    """Evaluation cannot go on, or the model is not worth serving; the message says why."""


@dataclass(frozen=True)
class Evaluation:
    """The fitted pipeline and what it scored on data it never saw."""

    pipeline: Pipeline
    metrics: Metrics
    baseline_metrics: Metrics
    train_rows: int
    test_rows: int
    beats_baseline: bool
    train_features: pd.DataFrame
    test_features: pd.DataFrame


def metric_for(task: Task, name: str | None) -> MetricDefinition:
    """The named metric, or the task's default; refuses a metric of the other task."""
    definition = METRICS.get(name or DEFAULT_METRIC[task])
    if definition is None:
        raise EvaluationError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}")
    if definition.task != task:
        raise EvaluationError(f"metric {definition.name} does not fit a {task} task")
    return definition


def evaluate(
    pipeline: Pipeline,
    features: pd.DataFrame,
    target: pd.Series,
    task: Task,
    metric: MetricDefinition,
    seed: int,
) -> Evaluation:
    """Split, cross-validate on the training part, fit, score model and baseline on the test."""
    stratify = target if task == "classification" else None
    if task == "classification" and target.value_counts().min() < 2:
        raise EvaluationError("every class needs at least 2 rows for a stratified split")
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=TEST_SIZE, random_state=seed, stratify=stratify
    )
    folds = (
        StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
        if task == "classification"
        else KFold(CV_FOLDS, shuffle=True, random_state=seed)
    )
    scorer = make_scorer(_FUNCTIONS[metric.name], greater_is_better=metric.greater_is_better)
    sign = 1.0 if metric.greater_is_better else -1.0
    cv_scores = sign * cross_val_score(clone(pipeline), x_train, y_train, cv=folds, scoring=scorer)
    pipeline.fit(x_train, y_train)
    baseline = (
        DummyClassifier(strategy="most_frequent")
        if task == "classification"
        else DummyRegressor(strategy="mean")
    ).fit(x_train, y_train)
    model_value = metric.score(y_test, pipeline.predict(x_test))
    baseline_value = metric.score(y_test, baseline.predict(x_test))
    beats = (
        model_value > baseline_value if metric.greater_is_better else model_value < baseline_value
    )
    return Evaluation(
        pipeline=pipeline,
        metrics=Metrics(
            name=metric.name,
            value=model_value,
            cv_mean=float(np.mean(cv_scores)),
            cv_std=float(np.std(cv_scores)),
        ),
        baseline_metrics=Metrics(name=metric.name, value=baseline_value),
        train_rows=len(x_train),
        test_rows=len(x_test),
        beats_baseline=beats,
        train_features=x_train,
        test_features=x_test,
    )
