"""Refusals before any file is written: not an estimator, not fitted, predict fails (which step)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mlvajra.artifact import Task
from mlvajra.errors import TrainingError
from mlvajra.training.datasets import infer_task


def require_estimator(estimator: Any) -> None:
    """Refuse anything without fit and predict (a scikit-learn estimator or Pipeline)."""
    missing = [name for name in ("fit", "predict") if not callable(getattr(estimator, name, None))]
    if missing:
        raise TrainingError(
            f"{type(estimator).__name__} is not a scikit-learn estimator (no "
            f"{' or '.join(missing)}): pass a Pipeline or an estimator"
        )


def require_fitted(estimator: Any) -> None:
    """Refuse an estimator that was never fitted: `package` takes a fitted one."""
    require_estimator(estimator)
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise TrainingError(
            f"this {type(estimator).__name__} is not fitted: fit it first, or let "
            "mlvajra.train (mlvajra train --pipeline) fit it"
        ) from None
    except TypeError as error:
        raise TrainingError(f"{type(estimator).__name__}: {error}") from None


def task_of(estimator: Any, target: pd.Series) -> Task:
    """The estimator's own kind when it declares one, else inferred from the target."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    for candidate in (estimator, final):
        try:
            if is_classifier(candidate):
                return "classification"
            if is_regressor(candidate):
                return "regression"
        except Exception:  # noqa: S112 - a foreign estimator without tags: infer instead
            continue
    return infer_task(target)


def require_predicts(fitted: Any, features: pd.DataFrame, task: Task) -> None:
    """Run predict (and predict_proba) on `features`; on failure name the step that fails."""
    if task == "classification" and not callable(getattr(fitted, "predict_proba", None)):
        raise TrainingError(
            f"{type(fitted).__name__} has no predict_proba: the service answers probabilities "
            "(for SVC pass probability=True)"
        )
    try:
        fitted.predict(features)
        if task == "classification":
            fitted.predict_proba(features)
    except Exception as error:  # the user's pipeline can raise anything
        raise TrainingError(_failing_step(fitted, features, error)) from None


def fit_failure(pipeline: Any, features: pd.DataFrame, target: Any, error: Exception) -> str:
    """Why fitting failed, naming the step of a Pipeline that raised (refitted one by one)."""
    if not isinstance(pipeline, Pipeline):
        return f"fitting {type(pipeline).__name__} failed: {_first_line(error)}"
    rows: Any = features
    for name, step in pipeline.steps:
        if step is None or step == "passthrough":
            continue
        try:
            fresh = clone(step)
            if name == pipeline.steps[-1][0]:
                fresh.fit(rows, target)
            else:
                rows = fresh.fit_transform(rows, target)
        except Exception as step_error:
            return _step_message(name, step, step_error, "fails to fit on the training rows")
    return f"fitting the pipeline failed: {_first_line(error)}"


def _failing_step(fitted: Any, features: pd.DataFrame, error: Exception) -> str:
    if not isinstance(fitted, Pipeline):
        return f"{type(fitted).__name__} fails on the evaluation rows: {_first_line(error)}"
    rows: Any = features
    for name, step in fitted.steps[:-1]:
        if step is None or step == "passthrough":
            continue
        try:
            rows = step.transform(rows)
        except Exception as step_error:
            return _step_message(name, step, step_error)
    name, final = fitted.steps[-1]
    try:
        final.predict(rows)
        final.predict_proba(rows) if hasattr(final, "predict_proba") else None
    except Exception as step_error:
        return _step_message(name, final, step_error)
    return f"the pipeline fails on the evaluation rows: {_first_line(error)}"


def _step_message(
    name: str, step: Any, error: Exception, doing: str = "fails on the evaluation rows"
) -> str:
    return f"step {name!r} ({type(step).__name__}) {doing}: {_first_line(error)}"


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]
