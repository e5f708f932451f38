"""Retraining on collected labels: the feedback store's rows in, and a candidate that must not
score worse than the served model on the same frozen evaluation rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlvajra.errors import DataError, TrainingError
from mlvajra.folder import open_artifact
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.training.scoring import MetricDefinition, metric_from_record


class CandidateWorseError(TrainingError):
    """The retrained candidate scores worse than the served model: nothing was written."""


def feedback_rows(state_dir: Path, name: str, target: str, like: pd.Series) -> pd.DataFrame:
    """Every label in `state_dir/<name>.feedback.sqlite` whose record is known, as rows with the
    label in `target`, typed like the training labels `like`. The store is only read."""
    from mlvajra.monitoring.feedback import FeedbackStore

    path = state_dir / f"{name}.feedback.sqlite"
    if not path.exists():
        raise DataError(f"--feedback: no {path.name} in {state_dir}")
    rows = [
        {**item["record"], target: item["label"]}
        for item in FeedbackStore(path).labelled()
        if item["record"] is not None
    ]
    if not rows:
        raise DataError(f"--feedback: {path} holds no label with a known record")
    frame = pd.DataFrame(rows)
    try:
        frame[target] = frame[target].astype(like.dtype)
    except (TypeError, ValueError):
        raise DataError(
            f"--feedback: a label in {path} is not a {like.dtype} like column {target!r}"
        ) from None
    return frame


def require_not_worse(
    candidate: tuple[Any, pd.DataFrame],
    model_dir: Path,
    features: pd.DataFrame,
    labels: pd.Series,
    fallback: MetricDefinition,
) -> None:
    """Score the fitted candidate (on its view of the rows) and the artifact at `model_dir`
    (through its runner, on the raw `features`) on the same rows with the artifact's metric;
    raise `CandidateWorseError` when the candidate loses."""
    manifest = open_artifact(model_dir)
    missing = [spec.name for spec in manifest.inputs if spec.name not in features.columns]
    if missing:
        raise TrainingError(f"--compare-with {model_dir}: the data has no input {missing}")
    metric = fallback if manifest.metric is None else metric_from_record(manifest.metric)
    records = features.astype(object).where(features.notna(), None).to_dict("records")
    predictor = Predictor(manifest, load_runner(model_dir, manifest, manifest.format))
    served = metric.score(labels.to_numpy(), predictor.run(records).labels)
    value = metric.evaluate(candidate[0], candidate[1], labels)
    if metric.better(served, than=value):
        raise CandidateWorseError(
            f"not written: the candidate's {metric.name} {value:.4f} is {abs(served - value):.4f}"
            f" worse than {model_dir}'s {served:.4f} on the same {len(labels)} evaluation rows"
        )
