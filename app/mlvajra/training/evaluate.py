"""Honest evaluation: a held-out split, cross-validation on the rest, the baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split

from mlvajra.artifact import Baseline, InputSpec, Metrics, Task
from mlvajra.errors import TrainingError
from mlvajra.training import progress
from mlvajra.training.checks import fit_failure
from mlvajra.training.scoring import MetricDefinition, score_baselines

TEST_SIZE = 0.2
CV_FOLDS = 5


class EvaluationError(TrainingError):
    """Evaluation cannot go on, or the model is not worth serving; the message says why."""


@dataclass(frozen=True)
class Evaluation:
    """The fitted pipeline and what it scored on data it never saw."""

    pipeline: Any
    metrics: Metrics
    baselines: list[Baseline]
    train_rows: int
    test_rows: int
    train_features: pd.DataFrame
    test_features: pd.DataFrame


def evaluate(
    pipeline: Any,
    features: pd.DataFrame,
    target: pd.Series,
    inputs: list[InputSpec],
    task: Task,
    metric: MetricDefinition,
    seed: int,
) -> Evaluation:
    """Split, cross-validate on the training part, fit, score model and baselines on the test."""
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
    try:
        cv_scores = cross_val_score(
            clone(pipeline),
            x_train,
            y_train,
            cv=folds,
            scoring=progress.FoldReporter(metric.evaluate, CV_FOLDS),
            error_score="raise",
        )
        progress.report(f"fit on {len(x_train):,} rows")
        pipeline.fit(x_train, y_train)
    except TrainingError:
        raise
    except Exception as error:  # the user's pipeline can raise anything while fitting
        raise EvaluationError(fit_failure(pipeline, x_train, y_train, error)) from None
    baselines = score_baselines(
        inputs, task, metric, (x_train, y_train), (x_test, y_test), "training rows", seed
    )
    return Evaluation(
        pipeline=pipeline,
        metrics=Metrics(
            name=metric.name,
            value=metric.evaluate(pipeline, x_test, y_test),
            cv_mean=float(np.mean(cv_scores)),
            cv_std=float(np.std(cv_scores)),
        ),
        baselines=baselines,
        train_rows=len(x_train),
        test_rows=len(x_test),
        train_features=x_train,
        test_features=x_test,
    )
