"""`train`: data and an unfitted pipeline (the user's, or the built-in) in, an artifact out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import clone

from mlvajra.artifact import Task, Training
from mlvajra.data import open_location
from mlvajra.training import progress
from mlvajra.training.checks import require_estimator, task_of
from mlvajra.training.datasets import (
    DEFAULT_NAME,
    DEFAULT_TARGET,
    Dataset,
    infer_task,
    model_frame,
    read_dataset,
)
from mlvajra.training.evaluate import CV_FOLDS, EvaluationError, evaluate
from mlvajra.training.export import DEFAULT_TOLERANCE
from mlvajra.training.packaging import (
    Evaluated,
    Packaged,
    estimator_name,
    frame_sha256,
    library_versions,
    require_beats_dummy,
    write_artifact,
)
from mlvajra.training.pipeline import build_pipeline
from mlvajra.training.retrain import feedback_rows, require_not_worse
from mlvajra.training.schema import cast_columns, infer_inputs
from mlvajra.training.scoring import resolve_metric


@dataclass(frozen=True)
class TrainOptions:
    """What `train` was asked to do (the CLI's flags, `mlvajra.train`'s keywords)."""

    data: str | Path | pd.DataFrame | None = None
    """A DataFrame, a path or URI that mlvajra.data reads, or None for the built-in penguins."""
    target: str | None = None
    name: str | None = None
    models_root: Path = Path("models")
    version: str | None = None
    task: Task | None = None
    metric: str | None = None
    drop: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    nullable: list[str] = field(default_factory=list)
    seed: int = 42
    parity_tolerance: float = DEFAULT_TOLERANCE
    allow_worse_than_baseline: bool = False
    feedback: Path | None = None
    """A state dir: add its feedback store's labelled records to the training data."""
    compare_with: Path | None = None
    """An artifact version folder the candidate must not score worse than."""


def train(options: TrainOptions, pipeline: Any | None = None) -> Packaged:
    """Split, cross-validate, fit `pipeline` (unfitted; None: the built-in one), score it against
    the baselines, export and write one artifact version."""
    if pipeline is not None:
        require_estimator(pipeline)
    progress.start()
    progress.report(f"reading {_describe(options.data)}")
    dataset = _dataset(options.data)
    target = options.target or (DEFAULT_TARGET if options.data is None else None)
    if target is None:
        raise EvaluationError("--target is required with --data (target= in Python)")
    name = options.name or _default_name(options.data)
    frame = dataset.frame
    if target not in frame.columns:
        raise EvaluationError(f"target column {target!r} not found; columns: {list(frame.columns)}")
    if options.feedback is not None:
        extra = feedback_rows(options.feedback, name, target, frame[target])
        progress.report(f"{len(extra):,} labelled rows from {options.feedback}")
        frame = pd.concat([frame, extra], ignore_index=True)
    if frame[target].isna().any():
        missing = int(frame[target].isna().sum())
        raise EvaluationError(f"target {target!r} has {missing} missing values; drop those rows")
    for column in options.drop:
        if column not in frame.columns:
            raise EvaluationError(f"column {column!r} not found; columns: {list(frame.columns)}")
    features = cast_columns(
        frame.drop(columns=[target, *options.drop]), options.categorical, options.numeric
    )
    # The built-in pipeline is fitted on mlvajra's own view (float64, text with the missing
    # marker) and records no dtype; the user's is fitted on their columns as they are.
    inputs = infer_inputs(features, options.nullable, record_dtype=pipeline is not None)
    raw = features
    if pipeline is None:
        features = model_frame(features, inputs)
    labels = frame[target]
    task = options.task or (
        task_of(pipeline, labels) if pipeline is not None else infer_task(labels)
    )
    if task == "classification" and not (
        pd.api.types.is_bool_dtype(labels) or pd.api.types.is_integer_dtype(labels)
    ):
        labels = labels.astype(str)
    metric = resolve_metric(task, options.metric)
    progress.report(f"{len(frame):,} rows, {len(inputs)} inputs; {CV_FOLDS}-fold cross-validation")
    unfitted = (
        build_pipeline(inputs, task, options.seed, rows=len(features))
        if pipeline is None
        else clone(pipeline)
    )
    evaluation = evaluate(unfitted, features, labels, inputs, task, metric, options.seed)
    evaluated = Evaluated(
        pipeline=evaluation.pipeline,
        inputs=inputs,
        task=task,
        target=target,
        parity_frame=features,
        reference_rows=(evaluation.train_features, evaluation.test_features),
        metric=metric,
        metrics=evaluation.metrics,
        baselines=evaluation.baselines,
        training=Training(
            data_source=dataset.source,
            rows=len(frame),
            data_sha256=dataset.sha256,
            train_rows=evaluation.train_rows,
            test_rows=evaluation.test_rows,
            seed=options.seed,
            estimator=estimator_name(evaluation.pipeline),
            library_versions=library_versions(),
        ),
    )
    require_beats_dummy(evaluated, options.allow_worse_than_baseline)
    if options.compare_with is not None:
        held_out = evaluation.test_features.index
        require_not_worse(
            (evaluation.pipeline, evaluation.test_features),
            options.compare_with,
            raw.loc[held_out],
            labels.loc[held_out],
            metric,
        )
    return write_artifact(
        evaluated, options.models_root, name, options.version, options.parity_tolerance
    )


def _dataset(data: str | Path | pd.DataFrame | None) -> Dataset:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise EvaluationError("the DataFrame has no rows")
        return Dataset(frame=data, source="python:DataFrame", sha256=frame_sha256(data))
    return read_dataset(data)


def _describe(data: str | Path | pd.DataFrame | None) -> str:
    if data is None:
        return "the built-in penguins"
    if isinstance(data, pd.DataFrame):
        return f"a DataFrame of {len(data):,} rows"
    return str(data)


def _default_name(data: str | Path | pd.DataFrame | None) -> str:
    if data is None:
        return DEFAULT_NAME
    if isinstance(data, pd.DataFrame):
        raise EvaluationError("name= is required when the data is a DataFrame")
    return open_location(data).stem()
