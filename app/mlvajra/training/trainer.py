"""`mlvajra train`: data in, a verified artifact folder `models/<name>/<version>/` out."""

from __future__ import annotations

import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import pandas as pd

from mlvajra.artifact import (
    MANIFEST_NAME,
    Manifest,
    Task,
    Training,
    sha256_file,
)
from mlvajra.data import open_location
from mlvajra.monitoring.profile import build_reference
from mlvajra.training.datasets import (
    DEFAULT_NAME,
    DEFAULT_TARGET,
    infer_inputs,
    infer_task,
    model_frame,
    read_dataset,
)
from mlvajra.training.evaluate import EvaluationError, evaluate, metric_for
from mlvajra.training.export import DEFAULT_TOLERANCE, export_artifact
from mlvajra.training.pipeline import build_pipeline

LIBRARIES = ("scikit-learn", "skl2onnx", "onnxruntime", "onnx", "numpy", "pandas")


@dataclass(frozen=True)
class TrainOptions:
    """What `mlvajra train` was asked to do."""

    data: str | Path | None = None
    """A path or URI that mlvajra.data.kinds reads; None means the built-in penguins."""
    target: str | None = None
    name: str | None = None
    models_root: Path = Path("models")
    version: str | None = None
    task: Task | None = None
    metric: str | None = None
    drop: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    seed: int = 42
    parity_tolerance: float = DEFAULT_TOLERANCE
    allow_worse_than_baseline: bool = False


def next_version(model_root: Path) -> str:
    """One more than the highest integer version already in `model_root`."""
    numbers = [int(p.name) for p in model_root.glob("*") if p.is_dir() and p.name.isdigit()]
    return str(max(numbers, default=0) + 1)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the artifact."""
    return {"python": platform.python_version()} | {
        name: package_version(name) for name in LIBRARIES
    }


def train(options: TrainOptions) -> Path:
    """Train, evaluate, export and write one artifact version; return its folder."""
    dataset = read_dataset(options.data)
    target = options.target or (DEFAULT_TARGET if options.data is None else None)
    if target is None:
        raise EvaluationError("--target is required with --data")
    name = options.name or (
        DEFAULT_NAME if options.data is None else open_location(options.data).stem()
    )
    frame = dataset.frame
    inputs = infer_inputs(frame, target, options.drop, options.categorical, options.numeric)
    if frame[target].isna().any():
        missing = int(frame[target].isna().sum())
        raise EvaluationError(f"target {target!r} has {missing} missing values; drop those rows")
    task = options.task or infer_task(frame[target])
    metric = metric_for(task, options.metric)
    features = model_frame(frame, inputs)
    labels = frame[target]
    if task == "classification" and not (
        pd.api.types.is_bool_dtype(labels) or pd.api.types.is_integer_dtype(labels)
    ):
        labels = labels.astype(str)
    pipeline = build_pipeline(inputs, task, options.seed)
    evaluation = evaluate(pipeline, features, labels, task, metric, options.seed)
    if not evaluation.beats_baseline and not options.allow_worse_than_baseline:
        raise EvaluationError(
            f"the model does not beat the baseline on held-out data: {metric.name} "
            f"{evaluation.metrics.value:.4f} vs baseline {evaluation.baseline_metrics.value:.4f} "
            "(--allow-worse-than-baseline to keep it anyway)"
        )

    model_root = options.models_root / name
    model_root.mkdir(parents=True, exist_ok=True)
    version = options.version or next_version(model_root)
    final_dir = model_root / version
    if final_dir.exists():
        raise EvaluationError(f"{final_dir} already exists; versions are never overwritten")
    # Written in a hidden folder and renamed at the end: a failed run leaves no half artifact.
    work_dir = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_root))
    try:
        exported = export_artifact(
            evaluation.pipeline, inputs, task, features, work_dir, options.parity_tolerance
        )
        files = {p.name: sha256_file(p) for p in sorted(work_dir.iterdir())}
        classes = evaluation.pipeline.classes_.tolist() if task == "classification" else None
        manifest = Manifest(
            name=name,
            version=version,
            task=task,
            format=exported.format,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            files=files,
            inputs=inputs,
            target=target,
            classes=classes,
            metrics=evaluation.metrics,
            baseline_metrics=evaluation.baseline_metrics,
            parity=exported.parity,
            format_reason=exported.format_reason,
            training=Training(
                data_source=dataset.source,
                rows=len(frame),
                data_sha256=dataset.sha256,
                train_rows=evaluation.train_rows,
                test_rows=evaluation.test_rows,
                seed=options.seed,
                estimator=type(evaluation.pipeline.steps[-1][1]).__name__,
                library_versions=library_versions(),
            ),
            reference=build_reference(
                inputs,
                evaluation.train_features,
                evaluation.test_features,
                evaluation.pipeline.predict,
                classes,
            ),
        )
        (work_dir / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n")
        work_dir.chmod(0o755)
        work_dir.rename(final_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return final_dir
