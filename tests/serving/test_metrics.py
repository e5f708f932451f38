"""`Tally`: one multiprocess write per response, everything else exact once flushed."""

from __future__ import annotations

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from mlvajra.predictor import Predictions
from mlvajra.serving.metrics import LATENCY_BUCKETS, Tally, _Buckets


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_batched_observations_write_what_observe_writes() -> None:
    # Amounts on, between, below and above the bounds, +Inf included.
    amounts = [0.0, 0.0005, 0.0007, 0.001, 0.03, 0.03, 9.99, 10.0, 12.0, 1e6]
    registry_one, registry_many = CollectorRegistry(), CollectorRegistry()
    one = Histogram("h", "h", buckets=LATENCY_BUCKETS, registry=registry_one)
    many = Histogram("h", "h", buckets=LATENCY_BUCKETS, registry=registry_many)
    for amount in amounts:
        one.observe(amount)
    buckets = _Buckets(LATENCY_BUCKETS)
    for amount in amounts:
        buckets.observe(amount)
    buckets.flush_into(many)
    buckets.flush_into(many)  # nothing new: writes nothing

    def lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines() if not line.startswith(("#", "h_created"))]

    assert lines(registry_many) == lines(registry_one)


def test_the_request_counter_is_written_at_once_the_rest_at_flush() -> None:
    tally = Tally()
    endpoint = "/test-tally"
    requests = _sample("mlvajra_requests_total", endpoint=endpoint, status="200")
    count = "mlvajra_request_duration_seconds_count"
    durations = _sample(count, endpoint=endpoint)
    instances = _sample("mlvajra_instances_per_request_sum")
    labels = {name: _sample("mlvajra_predictions_total", label=name) for name in ("a", "b")}
    invalid = _sample("mlvajra_invalid_instances_total", field="tally_field")

    probabilities = np.zeros((3, 2))
    for _ in range(4):
        tally.answered(endpoint, 200, 0.002)
        tally.scored(0.001, Predictions(np.array(["a", "b", "a"]), probabilities))
    tally.invalid({"tally_field": 5})

    # Killed now, the worker would still have counted every response.
    assert _sample("mlvajra_requests_total", endpoint=endpoint, status="200") == requests + 4
    assert _sample(count, endpoint=endpoint) == durations
    tally.flush()
    tally.flush()  # flushed counts are not added twice
    assert _sample(count, endpoint=endpoint) == durations + 4
    assert _sample("mlvajra_instances_per_request_sum") == instances + 12
    assert _sample("mlvajra_predictions_total", label="a") == labels["a"] + 8
    assert _sample("mlvajra_predictions_total", label="b") == labels["b"] + 4
    assert _sample("mlvajra_invalid_instances_total", field="tally_field") == invalid + 5
