"""The model card: what the artifact predicts, how well, from what, and its reference rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import REFERENCE_FILE, InputSpec, Manifest
from mlvajra.folder import read_verified
from mlvajra.inputs import MISSING_CATEGORY, neutral_record
from mlvajra.training.parity import load_reference

HISTOGRAM_BINS = 12


@dataclass(frozen=True)
class InputProfile:
    """One input as the reference rows show it: range and histogram, or category counts."""

    spec: InputSpec
    missing: int
    minimum: float | None = None
    median: float | None = None
    maximum: float | None = None
    edges: list[float] | None = None
    counts: list[int] | None = None
    categories: dict[str, int] | None = None


@dataclass(frozen=True)
class Reference:
    """The held-out rows stored at export (`reference.npz`), as records and profiles."""

    records: list[dict[str, Any]]
    profiles: list[InputProfile]


def read_reference(model_dir: Path, manifest: Manifest) -> Reference:
    """The artifact's reference rows, read from verified bytes; none for a joblib-only artifact."""
    if REFERENCE_FILE not in manifest.files:
        records = [neutral_record(manifest.inputs)]
        return Reference(records=records, profiles=[])
    data = read_verified(model_dir, manifest, REFERENCE_FILE)
    columns, _ = load_reference(data, manifest.inputs, manifest.task)
    flat = {name: values.reshape(-1) for name, values in columns.items()}
    rows = len(next(iter(flat.values())))
    records = [
        {spec.name: _plain(flat[spec.name][row], spec) for spec in manifest.inputs}
        for row in range(rows)
    ]
    profiles = [profile(spec, flat[spec.name]) for spec in manifest.inputs]
    return Reference(records=records, profiles=profiles)


def profile(spec: InputSpec, values: npt.NDArray[Any]) -> InputProfile:
    """Range, median and histogram of a number; counts of each category of a text."""
    if spec.type == "string":
        text = values.astype(str)
        missing = int(np.sum(text == MISSING_CATEGORY))
        names, counts = np.unique(text[text != MISSING_CATEGORY], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        categories = {str(names[i]): int(counts[i]) for i in order}
        return InputProfile(spec=spec, missing=missing, categories=categories)
    numbers = values.astype(np.float64)
    present = numbers[~np.isnan(numbers)]
    missing = len(numbers) - len(present)
    if not len(present):
        return InputProfile(spec=spec, missing=missing)
    counts, edges = np.histogram(present, bins=HISTOGRAM_BINS)
    return InputProfile(
        spec=spec,
        missing=missing,
        minimum=float(present.min()),
        median=float(np.median(present)),
        maximum=float(present.max()),
        edges=[float(edge) for edge in edges],
        counts=[int(count) for count in counts],
    )


def card_facts(manifest: Manifest) -> list[tuple[str, str]]:
    """The card's headline facts as (label, text) pairs, for the page and the report."""
    facts = [
        ("Model", f"{manifest.name} version {manifest.version}"),
        ("Predicts", f"{manifest.target} ({manifest.task})"),
    ]
    if manifest.classes:
        facts.append(("Classes", ", ".join(str(label) for label in manifest.classes)))
    metric, baseline = manifest.metrics, manifest.baseline_metrics
    held_out = f"{metric.name} {metric.value:.4f} on held-out data"
    if metric.cv_mean is not None and metric.cv_std is not None:
        held_out += f" (cross-validation {metric.cv_mean:.4f} +/- {metric.cv_std:.4f})"
    facts.append(("Metric", f"{held_out}; baseline {baseline.value:.4f}"))
    training = manifest.training
    facts.append(("Estimator", training.estimator))
    facts.append(
        (
            "Training data",
            f"{training.data_source}: {training.rows} rows "
            f"({training.train_rows} train, {training.test_rows} held out), "
            f"sha256 {training.data_sha256[:12]}",
        )
    )
    facts.append(("Serving format", manifest.format))
    parity = manifest.parity
    if parity is not None:
        diff = parity.max_abs_probability_diff
        if diff is None:
            diff = parity.max_abs_value_diff
        verdict = "passed" if parity.passed else "failed"
        facts.append(
            ("Parity", f"{verdict} on {parity.rows} rows, max |difference| {diff or 0:.3g}")
        )
    versions = ", ".join(f"{name} {v}" for name, v in training.library_versions.items())
    facts.append(("Libraries", versions))
    return facts


def _plain(value: Any, spec: InputSpec) -> Any:
    """A stored reference value as the API's JSON takes it (the missing marker and NaN: null)."""
    if spec.type == "string":
        return None if value == MISSING_CATEGORY else str(value)
    number = float(value)
    if math.isnan(number):
        return None
    if spec.type == "integer":
        return int(number)
    if spec.type == "boolean":
        return bool(number)
    return number
