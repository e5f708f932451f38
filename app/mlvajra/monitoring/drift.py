"""Drift and data-quality figures from live counts: what `GET /drift` answers.

The same figures as the Prometheus recording rules in deploy/prometheus/ (the PSI with the
same smoothing), over the window "since the service started" instead of a sliding one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlvajra.artifact import FeatureReference, Reference
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.monitoring.binning import ABOVE, BELOW, OTHER, psi
from mlvajra.monitoring.counting import PREDICTION


def drift_report(reference: Reference, totals: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Per input (and for the predictions): n, PSI, status, quality shares, per-bin shares."""
    features = {
        name: _figures(feature, totals.get(name, {}), reference)
        for name, feature in reference.features.items()
    }
    return {
        "window": "since the service started",
        "thresholds": {"watch": reference.psi_watch, "act": reference.psi_act},
        "features": features,
        "prediction": _figures(reference.prediction, totals.get(PREDICTION, {}), reference),
    }


def status(value: float | None, n: int, feature: FeatureReference, reference: Reference) -> str:
    """`insufficient` below min_count, else `act`, `watch` or `ok` by the PSI thresholds."""
    if value is None or n < feature.min_count:
        return "insufficient"
    if value >= reference.psi_act:
        return "act"
    return "watch" if value >= reference.psi_watch else "ok"


def _figures(
    feature: FeatureReference, counted: Mapping[str, float], reference: Reference
) -> dict[str, Any]:
    counts = [int(counted.get(bin, 0)) for bin in feature.bins]
    n = sum(counts)
    value = psi(counts, feature.ratios)

    def share(*names: str) -> float | None:
        if not n:
            return None
        return sum(c for b, c in zip(feature.bins, counts, strict=True) if b in names) / n

    return {
        "n": n,
        "min_count": feature.min_count,
        "psi": None if value is None else round(value, 6),
        "status": status(value, n, feature, reference),
        "missing": share(MISSING_CATEGORY),
        "unseen": share(OTHER),
        "out_of_range": share(BELOW, ABOVE),
        "bins": {
            bin: {"live": count / n if n else None, "reference": ratio}
            for bin, count, ratio in zip(feature.bins, counts, feature.ratios, strict=True)
        },
    }
