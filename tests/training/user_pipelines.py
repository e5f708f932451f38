"""Write an artifact from a user's fitted pipeline, as `mlvajra.package` will (tiny real data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlvajra.artifact import MANIFEST_NAME, InputSpec, Manifest, Metrics, Task, Training
from mlvajra.folder import folder_hashes
from mlvajra.training.export import DEFAULT_TOLERANCE, export_artifact


def write_artifact(
    pipeline: Any,
    frame: pd.DataFrame,
    inputs: list[InputSpec],
    task: Task,
    folder: Path,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Export the fitted `pipeline` with `frame` as its held-out rows into `folder`/1."""
    work = folder / "1"
    work.mkdir(parents=True)
    exported = export_artifact(pipeline, inputs, task, frame, work, tolerance)
    metric = Metrics(name="score", value=1.0)
    manifest = Manifest(
        name=folder.name,
        version="1",
        task=task,
        format=exported.format,
        created_at="2026-12-01T00:00:00Z",
        files=folder_hashes(work),
        inputs=inputs,
        target="y",
        classes=pipeline.classes_.tolist() if task == "classification" else None,
        metrics=metric,
        baseline_metrics=metric,
        parity=exported.parity,
        format_reason=exported.format_reason,
        training=Training(
            data_source="test",
            rows=len(frame),
            data_sha256="0" * 64,
            train_rows=len(frame),
            test_rows=len(frame),
            seed=0,
            estimator=type(pipeline).__name__,
            library_versions={},
        ),
        conversion=exported.attempts,
        loading=exported.loading,
    )
    (work / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
    return work


def numbers(rows: int, seed: int = 0) -> pd.DataFrame:
    """Two float64 columns `a` and `b` with a class target `y` and a value target `value`."""
    generator = np.random.default_rng(seed)
    a = generator.normal(size=rows)
    b = generator.normal(size=rows)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "y": np.where(a + b > 0, "yes", "no"),
            "value": 3000.0 + 900.0 * a - 400.0 * b,
        }
    )


NUMBER_INPUTS = [
    InputSpec(name="a", type="number", nullable=False, dtype="float64"),
    InputSpec(name="b", type="number", nullable=False, dtype="float64"),
]
