"""Prometheus metrics, aggregated across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set.

prometheus_client picks its storage when first imported: the directory must be in the environment
before that (gunicorn.conf.py sets it in the master, before any worker imports this module).
Each write to a multiprocess file costs about 3 us; `Tally` makes one per response.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import Counter as Tallies
from collections.abc import Mapping
from typing import Any

import numpy.typing as npt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from mlvajra.predictor import Predictions

# Sub-millisecond buckets: a one-record prediction takes well under a millisecond.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
INSTANCE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

REQUESTS = Counter("mlvajra_requests", "HTTP requests answered.", ["endpoint", "status"])
REQUEST_DURATION = Histogram(
    "mlvajra_request_duration_seconds",
    "Time from request start to response end.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
INFERENCE_DURATION = Histogram(
    "mlvajra_inference_duration_seconds",
    "Time spent validating and running the model for one request.",
    buckets=LATENCY_BUCKETS,
)
INSTANCES = Histogram(
    "mlvajra_instances_per_request", "Records per /predict request.", buckets=INSTANCE_BUCKETS
)
PREDICTIONS = Counter("mlvajra_predictions", "Predictions returned, by label.", ["label"])
INVALID_INSTANCES = Counter(
    "mlvajra_invalid_instances", "Invalid values rejected, by input field.", ["field"]
)
MODEL_INFO = Gauge(
    "mlvajra_model_info",
    "The artifact this service loaded (always 1).",
    ["name", "version", "format", "sha256"],
    multiprocess_mode="max",
)


class _Buckets:
    """One histogram's observations since the last flush: a count per bucket and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, amount: float) -> None:
        # The first bucket whose bound is >= amount: prometheus_client's `amount <= bound`.
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount

    def flush_into(self, histogram: Histogram) -> None:
        """Add the observations to `histogram` (a child: labels applied), then start again."""
        if not any(self.counts):
            return
        add_observations(histogram, self.counts, self.total)
        self.counts = [0] * len(self.counts)
        self.total = 0.0


def add_observations(histogram: Histogram, counts: list[int], total: float) -> None:
    """What `observe` would have written for observations with these bucket counts and sum.

    prometheus_client has no public call for many observations at once; its `observe` writes
    `_sum` and one of `_buckets` (tests/serving/test_metrics.py checks the two agree).
    """
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


class Tally:
    """One worker's request metrics, at one multiprocess write per response.

    `mlvajra_requests_total` is written as each response ends: it stays exact even for a worker
    killed with SIGKILL. The histograms and per-label counters are counted here in memory and
    added to the multiprocess files by `flush`, which the worker calls about once a second, at
    each scrape it answers, and at shutdown; a killed worker loses at most that last second.
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, int], Counter] = {}
        self._durations: dict[str, _Buckets] = {}
        self._inference = _Buckets(LATENCY_BUCKETS)
        self._instances = _Buckets(INSTANCE_BUCKETS)
        self._predictions: Tallies[str] = Tallies()
        self._held_labels: list[npt.NDArray[Any]] = []
        self._invalid: Tallies[str] = Tallies()

    def answered(self, endpoint: str, status: int, seconds: float) -> None:
        """One response sent (`endpoint`: a route path or template, never a raw path)."""
        key = (endpoint, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = REQUESTS.labels(endpoint, str(status))
        child.inc()
        durations = self._durations.get(endpoint)
        if durations is None:
            durations = self._durations[endpoint] = _Buckets(LATENCY_BUCKETS)
        durations.observe(seconds)

    def scored(self, seconds: float, predictions: Predictions) -> None:
        """One request's records validated and scored."""
        self._inference.observe(seconds)
        self._instances.observe(len(predictions.labels))
        if predictions.probabilities is not None:
            self._held_labels.append(predictions.labels)  # tallied by `settle`

    def settle(self) -> None:
        """Tally the labels `scored` holds (22 us for 1,000): the service calls this once the
        response has left, and `flush` before it reads them."""
        held, self._held_labels = self._held_labels, []
        for labels in held:
            self._predictions.update(labels.tolist())

    def invalid(self, field_counts: Mapping[str, int]) -> None:
        """Invalid values of one refused request, by field."""
        self._invalid.update(field_counts)

    def flush(self) -> None:
        """Add everything counted since the last flush to the multiprocess files."""
        self.settle()
        for endpoint, durations in self._durations.items():
            durations.flush_into(REQUEST_DURATION.labels(endpoint))
        self._inference.flush_into(INFERENCE_DURATION)
        self._instances.flush_into(INSTANCES)
        for label, count in self._predictions.items():
            PREDICTIONS.labels(str(label)).inc(count)
        for field, count in self._invalid.items():
            INVALID_INSTANCES.labels(field).inc(count)
        self._predictions.clear()
        self._invalid.clear()


def render_latest() -> tuple[bytes, str]:
    """The exposition text: every worker's values when in multiprocess mode."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
