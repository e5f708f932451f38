"""`stack compare`: both colors side by side, from their own /metrics and GET /quality."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from mlvajra.errors import StackError
from mlvajra.stack.analysis import Snapshot
from mlvajra.stack.platform import Backend, ColorState

NO_MONITORING = "no live metric (monitoring not available)"


class QualityModel(BaseModel):
    """`model` in GET /quality."""

    name: str
    version: str


class QualityMetric(BaseModel):
    """`metric` in GET /quality: the scoped metric held out at training and live on labels."""

    name: str
    heldout: float | None
    live: float | None
    labels: int


class Quality(BaseModel):
    """GET /quality (the monitoring room's answer)."""

    model: QualityModel
    metric: QualityMetric


class ColorReport(BaseModel):
    """One color's figures since it started."""

    color: str
    role: str
    name: str
    version: str
    requests: int
    errors: float | None
    invalid: float | None
    p99_ms: float | None
    quality: Quality | None
    live_metric: str
    """The live metric in words, or why there is none."""


def read_quality(backend: Backend, color: ColorState) -> tuple[Quality | None, str]:
    """The color's /quality and a line saying it; (None, why) without one."""
    status, body = backend.color_request(color, "GET", "/quality")
    if status == 404:
        return None, NO_MONITORING
    if status != 200:
        return None, f"no live metric (/quality answered {status})"
    try:
        quality = Quality.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        first = str(error).splitlines()[0]
        return None, f"no live metric (unreadable /quality: {first})"
    metric = quality.metric
    heldout = "-" if metric.heldout is None else f"{metric.heldout:.4f}"
    if metric.live is None:
        return quality, f"{metric.name}: no labels yet (held-out {heldout})"
    line = f"{metric.name} {metric.live:.4f} on {metric.labels} labels (held-out {heldout})"
    return quality, line


def report(backend: Backend, color: ColorState, role: str) -> ColorReport:
    """`color`'s prediction counters and live metric, read from the color itself."""
    status, body = backend.color_request(color, "GET", "/metrics")
    if status != 200:
        raise StackError(f"{color.color} /metrics answered {status}: {body[:120]!r}")
    counts = Snapshot.parse(body.decode(errors="replace"))
    p99 = counts.quantile(0.99)
    quality, live = read_quality(backend, color)
    has = counts.requests > 0
    return ColorReport(
        color=color.color,
        role=role,
        name=color.name,
        version=color.version,
        requests=counts.requests,
        errors=round(counts.share("5"), 4) if has else None,
        invalid=round(counts.share("422"), 4) if has else None,
        p99_ms=None if p99 is None else round(p99 * 1000, 3),
        quality=quality,
        live_metric=live,
    )


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.2%}"


def compare_table(reports: list[ColorReport]) -> str:
    """One column per color, one row per figure."""
    rows = [
        ["", *(f"{item.color} ({item.role})" for item in reports)],
        ["model", *(f"{item.name} {item.version}" for item in reports)],
        ["requests", *(str(item.requests) for item in reports)],
        ["5xx", *(_percent(item.errors) for item in reports)],
        ["422", *(_percent(item.invalid) for item in reports)],
        ["p99", *("-" if item.p99_ms is None else f"{item.p99_ms:.1f} ms" for item in reports)],
        ["live metric", *(item.live_metric for item in reports)],
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
