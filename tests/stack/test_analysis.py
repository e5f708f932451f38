"""Judging a canary interval from /metrics text as the service writes it (prometheus_client)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mlvajra.errors import StackError
from mlvajra.serving.metrics import LATENCY_BUCKETS
from mlvajra.stack.analysis import Snapshot, Thresholds, judge, prediction_psi


def exposition(answers: list[tuple[str, str, float, int]]) -> str:
    """/metrics text holding `count` answers of (endpoint, status, seconds, count)."""
    registry = CollectorRegistry()
    requests = Counter("mlvajra_requests", "", ["endpoint", "status"], registry=registry)
    duration = Histogram(
        "mlvajra_request_duration_seconds",
        "",
        ["endpoint"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for endpoint, status, seconds, count in answers:
        for _ in range(count):
            requests.labels(endpoint, status).inc()
            duration.labels(endpoint).observe(seconds)
    return generate_latest(registry).decode()


def snapshot(*answers: tuple[str, str, float, int]) -> Snapshot:
    return Snapshot.parse(exposition(list(answers)))


def test_snapshot_counts_prediction_routes_only_and_interpolates_p99_like_prometheus() -> None:
    counts = snapshot(
        ("/predict", "200", 0.003, 90),
        ("/v2/models/{model_name}/infer", "200", 0.003, 7),
        ("/predict", "500", 0.3, 3),
        ("/health", "200", 2.0, 50),
    )
    assert counts.requests == 100, "probes are not judged"
    assert counts.share("5") == pytest.approx(0.03)
    # rank 99 of 100 lies in (0.25, 0.5], which holds answers 98..100: 0.25 + 0.25 * 2/3.
    assert counts.quantile(0.99) == pytest.approx(0.25 + 0.25 * 2 / 3)
    assert snapshot().quantile(0.99) is None


def test_since_takes_deltas_and_a_restarted_color_counts_from_zero() -> None:
    before = snapshot(("/predict", "200", 0.003, 10))
    after = snapshot(("/predict", "200", 0.003, 25), ("/predict", "422", 0.001, 5))
    assert after.since(before).requests == 20
    assert after.since(before).share("422") == pytest.approx(0.25)
    assert before.since(after).requests == 10, "a counter that went down restarted"


def test_unreadable_metrics_is_one_line() -> None:
    with pytest.raises(StackError, match="unreadable /metrics"):
        Snapshot.parse('mlvajra_requests_total{endpoint="/predict" 1\n')


STABLE = ("/predict", "200", 0.002, 1000)


@pytest.mark.parametrize(
    ("canary", "verdict", "reason"),
    [
        ([("/predict", "200", 0.002, 200)], "passed", None),
        ([("/predict", "200", 0.002, 198), ("/predict", "500", 0.002, 2)], "passed", None),
        ([("/predict", "200", 0.002, 196), ("/predict", "500", 0.002, 4)], "failed",
         "success rate 98.00% below 99%"),
        ([("/predict", "200", 0.002, 190), ("/predict", "422", 0.002, 10)], "failed",
         "422 share 5.00% above stable's 0.99% + 1%"),
        ([("/predict", "200", 0.002, 190), ("/predict", "200", 0.8, 10)], "failed",
         "p99 900 ms above 500 ms"),
        ([("/predict", "200", 0.002, 99)], "inconclusive", "99 canary requests, fewer than 100"),
    ],
)  # fmt: skip
def test_judge_applies_the_default_thresholds(
    canary: list[tuple[str, str, float, int]], verdict: str, reason: str | None
) -> None:
    stable = snapshot(STABLE, ("/predict", "422", 0.001, 10))
    analysis = judge(10, snapshot(*canary), stable, Thresholds())
    assert analysis.verdict == verdict
    assert analysis.reasons == ([reason] if reason else [])
    assert analysis.canary_share == round(
        analysis.canary_requests / (analysis.canary_requests + 1010), 4
    )
    assert verdict in analysis.line()


def labelled(answers: int, labels: dict[str, int]) -> Snapshot:
    """A color with monitoring: `answers` 200s and its predicted labels' bin counters."""
    text = exposition([("/predict", "200", 0.002, answers)])
    registry = CollectorRegistry()
    bins = Counter("mlvajra_input_bin", "", ["version", "feature", "bin"], registry=registry)
    for label, count in labels.items():
        bins.labels("1", "__prediction__", label).inc(count)
        bins.labels("1", "bill_length_mm", label).inc(1000)  # inputs are not the predictions
    return Snapshot.parse(text + generate_latest(registry).decode())


STABLE_LABELS = {"Adelie": 440, "Chinstrap": 200, "Gentoo": 360}


@pytest.mark.parametrize(
    ("labels", "verdict", "judged"),
    [
        ({"Adelie": 90, "Chinstrap": 40, "Gentoo": 70}, "passed", True),
        ({"Adelie": 190, "Chinstrap": 5, "Gentoo": 5}, "failed", True),
        ({"Adelie": 95, "Chinstrap": 2, "Gentoo": 2}, "passed", False),  # 99 < min_predictions
        ({}, "passed", False),  # no monitoring on the canary
    ],
)
def test_judge_compares_the_predicted_labels_with_stables(
    labels: dict[str, int], verdict: str, judged: bool
) -> None:
    stable = labelled(1000, STABLE_LABELS)
    analysis = judge(10, labelled(200, labels), stable, Thresholds())
    assert analysis.verdict == verdict
    assert (analysis.prediction_psi is not None) == judged
    value = analysis.prediction_psi or 0.0
    if verdict == "failed":
        assert value > 0.25
        assert analysis.reasons == [f"predicted labels PSI {value:.3f} against stable's above 0.25"]
    else:
        assert value < 0.01, "the same label mix is no drift"
        assert analysis.reasons == []


def test_prediction_counts_are_interval_deltas() -> None:
    before = labelled(0, {"Adelie": 1000})
    after = labelled(0, {"Adelie": 1100, "Gentoo": 100})
    assert after.since(before).predictions == {"Adelie": 100, "Gentoo": 100}
    assert prediction_psi(after.since(before), labelled(0, STABLE_LABELS)) == pytest.approx(
        prediction_psi(labelled(0, {"Adelie": 100, "Gentoo": 100}), labelled(0, STABLE_LABELS))
    )
