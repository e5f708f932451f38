"""Drift metrics in Prometheus: live bin counters and the reference they are compared with.

Label values come from the manifest only (feature names and bin names), so the series are
bounded by the reference: at most 20 + 2 bins per input.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Callable, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import MultiProcessCollector

from mlvajra.artifact import Manifest
from mlvajra.monitoring.counting import PREDICTION, LiveCounts
from mlvajra.monitoring.feedback import Label

INPUT_BINS = Counter(
    "mlvajra_input_bin",
    f"Live values per reference bin of each input ({PREDICTION}: the predictions).",
    ["version", "feature", "bin"],
)
INPUT_REFERENCE = Gauge(
    "mlvajra_input_reference_ratio",
    "Training share of each reference bin (smoothed), from the manifest.",
    ["version", "feature", "bin"],
    multiprocess_mode="max",
)
INPUT_MIN_COUNT = Gauge(
    "mlvajra_input_min_count",
    "Live values a window needs before its PSI is reported.",
    ["version", "feature"],
    multiprocess_mode="max",
)
HELDOUT_METRIC = Gauge(
    "mlvajra_model_heldout_metric",
    "The manifest's metric on held-out data.",
    ["version", "metric"],
    multiprocess_mode="max",
)
HELDOUT_CV_STD = Gauge(
    "mlvajra_model_heldout_metric_cv_std",
    "Standard deviation of the manifest's metric across cross-validation folds.",
    ["version", "metric"],
    multiprocess_mode="max",
)
FEEDBACK_LABELS = Counter(
    "mlvajra_feedback_labels", "Labels stored by POST /feedback (repeats not counted).", ["version"]
)
FEEDBACK_FAILURES = Counter(
    "mlvajra_feedback_failures", "POST /feedback calls answered 503: the store could not commit."
)

# The live scoped metric's inputs, counted when a label is committed. Label values are the
# manifest's classes (the feedback codec refuses others; predictions are the model's own).
FEEDBACK_PAIRS = Counter(
    "mlvajra_feedback_pairs",
    "Committed labels of a classifier by (true) label and what the version predicted.",
    ["version", "label", "predicted"],
)
FEEDBACK_ERRORS = Counter(
    "mlvajra_feedback_errors",
    "Committed labels of a regressor whose prediction is known.",
    ["version"],
)
FEEDBACK_ABSOLUTE_ERROR = Counter(
    "mlvajra_feedback_absolute_error",
    "Sum of |label - predicted|.",
    ["version"],
)
FEEDBACK_SQUARED_ERROR = Counter(
    "mlvajra_feedback_squared_error",
    "Sum of (label - predicted)^2.",
    ["version"],
)


def count_pairs(labels: Sequence[Label], classification: bool) -> None:
    """Count committed labels whose prediction is known into the live metric's counters."""
    for item in labels:
        if item.predicted is None:
            continue
        if classification:
            FEEDBACK_PAIRS.labels(item.version, item.label, item.predicted).inc()
        else:
            error = float(item.label) - float(item.predicted)
            FEEDBACK_ERRORS.labels(item.version).inc()
            FEEDBACK_ABSOLUTE_ERROR.labels(item.version).inc(abs(error))
            FEEDBACK_SQUARED_ERROR.labels(item.version).inc(error * error)


class Exporter:
    """Moves one worker's `LiveCounts` into the Prometheus counters, as deltas."""

    def __init__(self, counts: LiveCounts, manifest: Manifest) -> None:
        self._counts = counts
        version = manifest.version
        # Every child created now: an untouched one is exported as 0, so empty bins are series.
        self._children = {
            name: [INPUT_BINS.labels(version, name, bin) for bin in binner.bins]
            for name, binner in counts.binners.items()
        }
        self._flushed = {name: [0] * len(children) for name, children in self._children.items()}
        for name, binner in counts.binners.items():
            for bin, ratio in zip(binner.bins, binner.reference.ratios, strict=True):
                INPUT_REFERENCE.labels(version, name, bin).set(ratio)
            INPUT_MIN_COUNT.labels(version, name).set(binner.reference.min_count)
        metrics = manifest.metrics
        HELDOUT_METRIC.labels(version, metrics.name).set(metrics.value)
        if metrics.cv_std is not None:
            HELDOUT_CV_STD.labels(version, metrics.name).set(metrics.cv_std)

    def flush(self) -> None:
        """Add what was counted since the last flush to the counters (a few dozen writes)."""
        self._counts.settle()
        for name, counts in self._counts.counts.items():
            flushed = self._flushed[name]
            children = self._children[name]
            for i, count in enumerate(counts):
                if count != flushed[i]:
                    children[i].inc(count - flushed[i])
                    flushed[i] = count


async def flush_every(flush: Callable[[], None], seconds: float) -> None:
    """Call `flush` every `seconds` until cancelled (the worker's lifespan ends it, then flushes
    once more)."""
    while True:
        await asyncio.sleep(seconds)
        flush()


def live_totals(version: str) -> dict[str, dict[str, float]]:
    """Flushed counts per feature and bin of `version`, summed over every worker."""
    registry = REGISTRY
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    for family in registry.collect():
        if family.name != "mlvajra_input_bin":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "mlvajra_input_bin_total" and labels["version"] == version:
                bins = totals[labels["feature"]]
                bins[labels["bin"]] = bins.get(labels["bin"], 0.0) + sample.value
    return totals
