"""A canary step judged from both colors' own /metrics: traffic, errors, bad input, p99,
and with monitoring the drift of the canary's predicted labels from the stable color's."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal, TypeVar

from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

from mlvajra.errors import StackError
from mlvajra.monitoring.binning import psi
from mlvajra.monitoring.counting import PREDICTION

REQUESTS_METRIC = "mlvajra_requests"
DURATION_METRIC = "mlvajra_request_duration_seconds"
BIN_METRIC = "mlvajra_input_bin"

Verdict = Literal["passed", "failed", "inconclusive"]
_Key = TypeVar("_Key", str, float)


def is_prediction(endpoint: str) -> bool:
    """The routes that score records, in every protocol (probes and docs are not judged)."""
    return endpoint in ("/predict", "/invocations") or endpoint.endswith("/infer")


class Snapshot(BaseModel):
    """One color's prediction counters at one moment: answers by status, latency buckets."""

    statuses: dict[str, float] = {}
    buckets: dict[float, float] = {}
    """Cumulative count of answers at or below each upper bound, in seconds (+Inf included)."""
    predictions: dict[str, float] = {}
    """Predictions per reference bin (label), from the monitoring counters; empty without."""

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """The prediction routes' counters in a /metrics exposition, summed over routes."""
        statuses: defaultdict[str, float] = defaultdict(float)
        buckets: defaultdict[float, float] = defaultdict(float)
        predictions: defaultdict[str, float] = defaultdict(float)
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == f"{BIN_METRIC}_total":
                        if sample.labels.get("feature") == PREDICTION:
                            predictions[sample.labels["bin"]] += sample.value
                        continue
                    if not is_prediction(sample.labels.get("endpoint", "")):
                        continue
                    if sample.name == f"{REQUESTS_METRIC}_total":
                        statuses[sample.labels["status"]] += sample.value
                    elif sample.name == f"{DURATION_METRIC}_bucket":
                        buckets[float(sample.labels["le"])] += sample.value
        except ValueError as error:
            raise StackError(f"unreadable /metrics: {error}") from None
        return cls(statuses=dict(statuses), buckets=dict(buckets), predictions=dict(predictions))

    def since(self, earlier: Snapshot) -> Snapshot:
        """What happened between `earlier` and this one (a restarted color counts from 0)."""
        return Snapshot(
            statuses=_minus(self.statuses, earlier.statuses),
            buckets=_minus(self.buckets, earlier.buckets),
            predictions=_minus(self.predictions, earlier.predictions),
        )

    @property
    def requests(self) -> int:
        """Answers of every status."""
        return round(sum(self.statuses.values()))

    def share(self, prefix: str) -> float:
        """The share of answers whose status starts with `prefix` ("5", "422"); 0 without any."""
        count = sum(value for status, value in self.statuses.items() if status.startswith(prefix))
        return count / self.requests if self.requests else 0.0

    def quantile(self, q: float) -> float | None:
        """Prometheus's histogram_quantile over the buckets (linear inside one); None if empty."""
        bounds = sorted(self.buckets)
        total = self.buckets.get(math.inf, 0.0)
        if not bounds or total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for bound in bounds:
            count = self.buckets[bound]
            if count >= rank:
                if math.isinf(bound):
                    return lower  # past the last finite bound: Prometheus answers that bound
                inside = count - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, count
        return lower


def prediction_psi(canary: Snapshot, stable: Snapshot) -> float | None:
    """PSI of the canary's predicted labels against the stable color's (smoothed alike).

    None when either color counted no prediction (monitoring off, or no traffic).
    """
    bins = sorted(set(canary.predictions) | set(stable.predictions))
    stable_counts = [stable.predictions.get(name, 0.0) for name in bins]
    total = sum(stable_counts)
    if not bins or total <= 0:
        return None
    ratios = [(count + 0.5) / (total + 0.5 * len(bins)) for count in stable_counts]
    return psi([round(canary.predictions.get(name, 0.0)) for name in bins], ratios)


def _minus(later: dict[_Key, float], earlier: dict[_Key, float]) -> dict[_Key, float]:
    changed = {key: value - earlier.get(key, 0.0) for key, value in later.items()}
    if any(value < 0 for value in changed.values()):
        return dict(later)
    return changed


class Thresholds(BaseModel):
    """When a step passes (defaults: Flagger's built-in checks, Argo Rollouts' failure limit)."""

    model_config = ConfigDict(frozen=True)

    min_requests: int = 100
    """Canary answers an interval needs before it is judged; fewer: inconclusive."""
    min_success: float = 0.99
    """Share of canary answers that are not 5xx (Flagger's request-success-rate: 99 %)."""
    max_extra_invalid: float = 0.01
    """How far the canary's 422 share may exceed the stable color's (a schema that rejects
    what clients send)."""
    max_p99_seconds: float = 0.5
    """Canary p99 latency (Flagger's request-duration: 500 ms)."""
    max_prediction_psi: float = 0.25
    """PSI of the canary's predicted labels against the stable color's (the drift alert's
    `act` threshold); judged with monitoring only."""
    min_predictions: int = 100
    """Predictions each color needs in an interval before their PSI is judged."""
    failure_limit: int = 0
    """Failed steps tolerated before the rollback (Argo Rollouts' failureLimit default 0)."""
    inconclusive_limit: int = 3
    """Inconclusive intervals in a row before the canary is rolled back: no verdict, no
    promotion."""


class Analysis(BaseModel):
    """One interval's figures for both colors and the verdict on the canary."""

    weight: int
    canary_requests: int
    stable_requests: int
    canary_share: float
    """Share of prediction answers the canary gave: near `weight` / 100 with many clients."""
    canary_errors: float
    stable_errors: float
    canary_invalid: float
    stable_invalid: float
    canary_p99_ms: float | None
    stable_p99_ms: float | None
    prediction_psi: float | None = None
    """Judged only when both colors counted `min_predictions`; else None."""
    verdict: Verdict
    reasons: list[str] = []

    def line(self) -> str:
        """One line for the operator."""
        p99 = "-" if self.canary_p99_ms is None else f"{self.canary_p99_ms:.1f} ms"
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return (
            f"weight {self.weight} %: canary served {self.canary_requests} of "
            f"{self.canary_requests + self.stable_requests} ({self.canary_share:.1%}), "
            f"5xx {self.canary_errors:.2%}, 422 {self.canary_invalid:.2%} "
            f"(stable {self.stable_invalid:.2%}), p99 {p99}: {self.verdict}{why}"
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def judge(weight: int, canary: Snapshot, stable: Snapshot, limits: Thresholds) -> Analysis:
    """The verdict on one interval's counters (deltas) of the canary and the stable color."""
    total = canary.requests + stable.requests
    p99 = canary.quantile(0.99)
    reasons: list[str] = []
    verdict: Verdict = "passed"
    drift: float | None = None
    if canary.requests < limits.min_requests:
        verdict = "inconclusive"
        reasons.append(f"{canary.requests} canary requests, fewer than {limits.min_requests}")
    else:
        if 1 - canary.share("5") < limits.min_success:
            reasons.append(
                f"success rate {1 - canary.share('5'):.2%} below {limits.min_success:.0%}"
            )
        if canary.share("422") > stable.share("422") + limits.max_extra_invalid:
            reasons.append(
                f"422 share {canary.share('422'):.2%} above stable's "
                f"{stable.share('422'):.2%} + {limits.max_extra_invalid:.0%}"
            )
        if p99 is not None and p99 > limits.max_p99_seconds:
            reasons.append(f"p99 {p99 * 1000:.0f} ms above {limits.max_p99_seconds * 1000:.0f} ms")
        counted = min(sum(canary.predictions.values()), sum(stable.predictions.values()))
        drift = prediction_psi(canary, stable) if counted >= limits.min_predictions else None
        if drift is not None and drift > limits.max_prediction_psi:
            reasons.append(
                f"predicted labels PSI {drift:.3f} against stable's above "
                f"{limits.max_prediction_psi:g}"
            )
        verdict = "failed" if reasons else "passed"
    return Analysis(
        weight=weight,
        canary_requests=canary.requests,
        stable_requests=stable.requests,
        canary_share=round(canary.requests / total, 4) if total else 0.0,
        canary_errors=round(canary.share("5"), 4),
        stable_errors=round(stable.share("5"), 4),
        canary_invalid=round(canary.share("422"), 4),
        stable_invalid=round(stable.share("422"), 4),
        canary_p99_ms=_ms(p99),
        stable_p99_ms=_ms(stable.quantile(0.99)),
        prediction_psi=None if drift is None else round(drift, 4),
        verdict=verdict,
        reasons=reasons,
    )
