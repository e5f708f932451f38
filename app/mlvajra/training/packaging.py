"""The one writer of artifact versions, and `package`: a pipeline fitted elsewhere -> artifact."""

from __future__ import annotations

import hashlib
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from mlvajra.artifact import (
    MANIFEST_NAME,
    Baseline,
    Format,
    InputSpec,
    Manifest,
    Metrics,
    Parity,
    Task,
    Training,
)
from mlvajra.errors import TrainingError
from mlvajra.folder import folder_hashes
from mlvajra.monitoring.profile import build_reference
from mlvajra.training import progress
from mlvajra.training.checks import require_fitted, require_predicts, task_of
from mlvajra.training.examples import input_example, parity_rows
from mlvajra.training.export import DEFAULT_TOLERANCE, export_artifact
from mlvajra.training.schema import infer_inputs
from mlvajra.training.scoring import MetricDefinition, resolve_metric, score_baselines

LIBRARIES = ("scikit-learn", "skl2onnx", "onnxruntime", "onnx", "numpy", "pandas")


@dataclass(frozen=True)
class Packaged:
    """One artifact version just written: where it is, what serves, how it scored."""

    folder: Path
    format: Format
    format_reason: str | None
    metrics: Metrics
    baselines: tuple[Baseline, ...]
    parity: Parity | None
    manifest: Manifest


@dataclass(frozen=True)
class Evaluated:
    """A fitted pipeline with the figures and provenance the manifest records."""

    pipeline: Any
    inputs: list[InputSpec]
    task: Task
    target: str
    parity_frame: pd.DataFrame
    reference_rows: tuple[pd.DataFrame, pd.DataFrame]
    """(training, held-out) rows the drift reference is built from: bins from the first,
    predictions on the second. `package` has only the held-out rows: both are those."""
    metric: MetricDefinition
    metrics: Metrics
    baselines: list[Baseline]
    training: Training


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the artifact."""
    return {"python": platform.python_version()} | {
        name: package_version(name) for name in LIBRARIES
    }


def next_version(model_root: Path) -> str:
    """One more than the highest integer version already in `model_root`."""
    numbers = [int(p.name) for p in model_root.glob("*") if p.is_dir() and p.name.isdigit()]
    return str(max(numbers, default=0) + 1)


def estimator_name(pipeline: Any) -> str:
    """The final estimator's class name (the pipeline's own for a bare estimator)."""
    final = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    return type(final).__name__


def require_beats_dummy(evaluated: Evaluated, allowed: bool) -> None:
    """Refuse a model that does not beat the dummy baseline, unless the user allows it."""
    dummy = evaluated.baselines[0].metrics.value
    if allowed or evaluated.metric.better(evaluated.metrics.value, dummy):
        return
    raise TrainingError(
        f"the model does not beat the baseline on held-out data: {evaluated.metric.name} "
        f"{evaluated.metrics.value:.4f} vs baseline {dummy:.4f} "
        "(--allow-worse-than-baseline, allow_worse_than_baseline=True, to keep it anyway)"
    )


def write_artifact(
    evaluated: Evaluated, models_root: Path, name: str, version: str | None, tolerance: float
) -> Packaged:
    """Export, hash and write `models_root/name/<version>/`, in a hidden folder renamed at the
    end: a failed run leaves no half artifact, and versions are never overwritten."""
    model_root = Path(models_root) / name
    model_root.mkdir(parents=True, exist_ok=True)
    version = version or next_version(model_root)
    final_dir = model_root / version
    if final_dir.exists():
        raise TrainingError(f"{final_dir} already exists; versions are never overwritten")
    work_dir = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_root))
    try:
        task = evaluated.task
        pipeline = evaluated.pipeline
        if not isinstance(pipeline, Pipeline):
            # A bare estimator (XGBClassifier, say) serves as a one-step Pipeline: one shape
            # for the exporters and the runners.
            pipeline = Pipeline([("model", pipeline)])
        progress.report("export (joblib, ONNX) and ONNX parity")
        parity_frame = parity_rows(evaluated.parity_frame, evaluated.training.seed)
        exported = export_artifact(
            pipeline, evaluated.inputs, task, parity_frame, work_dir, tolerance
        )
        progress.report(
            f"serves {exported.format}: {exported.format_reason or 'ONNX parity holds'}"
        )
        classes = (
            [getattr(c, "item", lambda c=c: c)() for c in pipeline.classes_]
            if task == "classification"
            else None
        )
        manifest = Manifest(
            name=name,
            version=version,
            task=task,
            format=exported.format,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            files=folder_hashes(work_dir),
            inputs=evaluated.inputs,
            target=evaluated.target,
            classes=classes,
            metrics=evaluated.metrics,
            baseline_metrics=evaluated.baselines[0].metrics,
            metric=evaluated.metric.record(),
            baselines=evaluated.baselines,
            parity=exported.parity,
            format_reason=exported.format_reason,
            conversion=exported.attempts,
            loading=exported.loading,
            training=evaluated.training,
            input_example=input_example(parity_frame, evaluated.inputs, parity_frame.index),
            reference=build_reference(
                evaluated.inputs, *evaluated.reference_rows, pipeline.predict, classes
            ),
        )
        (work_dir / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n")
        work_dir.chmod(0o755)
        work_dir.rename(final_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return Packaged(
        folder=final_dir,
        format=manifest.format,
        format_reason=manifest.format_reason,
        metrics=manifest.metrics,
        baselines=tuple(manifest.baselines),
        parity=manifest.parity,
        manifest=manifest,
    )


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of an in-memory table (values and index), for data that has no file."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()


def package(
    fitted: Any,
    X_holdout: pd.DataFrame,
    y_holdout: Any,
    *,
    name: str,
    models_root: str | Path = "models",
    metric: str | None = None,
    task: Task | None = None,
    version: str | None = None,
    nullable: Sequence[str] = (),
    parity_tolerance: float = DEFAULT_TOLERANCE,
    allow_worse_than_baseline: bool = False,
    data_source: str | None = None,
    data_sha256: str | None = None,
) -> Packaged:
    """Evaluate an already fitted pipeline on held-out rows against the baselines, then write
    it like `train` does. `y_holdout` may name a column of `X_holdout` instead."""
    require_fitted(fitted)
    if not isinstance(X_holdout, pd.DataFrame):
        raise TrainingError(
            f"X_holdout is a {type(X_holdout).__name__}: pass a pandas DataFrame of the raw "
            "input columns, so the artifact knows their names and types"
        )
    if isinstance(y_holdout, str):
        if y_holdout not in X_holdout.columns:
            raise TrainingError(
                f"target column {y_holdout!r} not found; columns: {list(X_holdout.columns)}"
            )
        target_name = y_holdout
        labels, X_holdout = X_holdout[y_holdout], X_holdout.drop(columns=[y_holdout])
    else:
        labels = pd.Series(y_holdout)
        target_name = str(labels.name) if labels.name is not None else "target"
    if len(labels) != len(X_holdout) or labels.isna().any() or len(labels) == 0:
        raise TrainingError(
            f"y_holdout needs one label per row of X_holdout ({len(X_holdout)}), none missing"
        )
    fitted_with = list(getattr(fitted, "feature_names_in_", X_holdout.columns))
    absent = [column for column in fitted_with if column not in X_holdout.columns]
    if absent:
        raise TrainingError(f"X_holdout lacks the columns the pipeline was fitted with: {absent}")
    features = X_holdout[fitted_with]
    task = task or task_of(fitted, labels)
    inputs = infer_inputs(features, nullable)
    definition = resolve_metric(task, metric)
    require_predicts(fitted, features, task)
    rows = (features, labels.to_numpy())
    evaluated = Evaluated(
        pipeline=fitted,
        inputs=inputs,
        task=task,
        target=target_name,
        parity_frame=features,
        reference_rows=(features, features),
        metric=definition,
        metrics=Metrics(name=definition.name, value=definition.evaluate(fitted, *rows)),
        baselines=score_baselines(inputs, task, definition, rows, rows, "evaluation rows", 0),
        training=Training(
            data_source=data_source or "python:DataFrame",
            rows=len(features),
            data_sha256=data_sha256 or frame_sha256(features.assign(**{target_name: labels})),
            train_rows=0,
            test_rows=len(features),
            seed=0,
            estimator=estimator_name(fitted),
            fitted_by="user",
            library_versions=library_versions(),
        ),
    )
    require_beats_dummy(evaluated, allow_worse_than_baseline)
    return write_artifact(evaluated, Path(models_root), name, version, parity_tolerance)
