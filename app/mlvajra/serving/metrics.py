"""Prometheus metrics, aggregated across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set.

prometheus_client picks its storage when first imported: the directory must be in the environment
before that (gunicorn.conf.py sets it in the master, before any worker imports this module).
"""

from __future__ import annotations

import os

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


def render_latest() -> tuple[bytes, str]:
    """The exposition text: every worker's values when in multiprocess mode."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
