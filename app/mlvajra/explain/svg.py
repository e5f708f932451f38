"""Small inline SVG plots: embedded in the page and the report, so nothing loads from a network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 260
HEIGHT = 120
_PAD = 28
_COLORS = ("#3b6ea8", "#d08a2e")


def bars(
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    title: str,
    names: Sequence[str] = (),
) -> str:
    """Grouped bars, one group per label and one bar per series (e.g. this data vs reference)."""
    top = max((value for values in series for value in values), default=0.0) or 1.0
    groups = max(len(labels), 1)
    group_width = (WIDTH - 2 * _PAD) / groups
    bar_width = group_width * 0.8 / max(len(series), 1)
    parts = []
    for index, values in enumerate(series):
        for position, value in enumerate(values):
            height = (HEIGHT - 2 * _PAD) * value / top
            x = _PAD + position * group_width + group_width * 0.1 + index * bar_width
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - _PAD - height:.1f}" width="{bar_width:.1f}" '
                f'height="{height:.1f}" fill="{_COLORS[index % 2]}"><title>'
                f"{escape(labels[position])}: {value:.4g}</title></rect>"
            )
    every = 1 if len(labels) <= 6 else 3
    for position, label in enumerate(labels):
        if position % every == 0:
            x = _PAD + (position + 0.5) * group_width
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - _PAD + 12}" font-size="9" '
                f'text-anchor="middle">{escape(label[:10])}</text>'
            )
    return _frame(title, parts, names)


def points(xs: Sequence[float], ys: Sequence[float], title: str, diagonal: bool = False) -> str:
    """A scatter plot (residuals, calibration), optionally with the y = x line."""
    if not xs:
        return _frame(title, [], ())
    low = min(min(xs), min(ys) if diagonal else min(xs))
    high = max(max(xs), max(ys) if diagonal else max(xs))
    y_low, y_high = (low, high) if diagonal else (min(ys), max(ys))
    span_x = (high - low) or 1.0
    span_y = (y_high - y_low) or 1.0

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            _PAD + (WIDTH - 2 * _PAD) * (x - low) / span_x,
            HEIGHT - _PAD - (HEIGHT - 2 * _PAD) * (y - y_low) / span_y,
        )

    parts = []
    if diagonal:
        (x1, y1), (x2, y2) = place(low, low), place(high, high)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#999"/>'
        )
    for x, y in zip(xs, ys, strict=True):
        cx, cy = place(x, y)
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{_COLORS[0]}"/>')
    parts.append(f'<text x="{_PAD}" y="{HEIGHT - 4}" font-size="9">{low:.3g} .. {high:.3g}</text>')
    return _frame(title, parts, ())


def _frame(title: str, parts: list[str], names: Sequence[str]) -> str:
    legend = "".join(
        f'<text x="{WIDTH - 70 * (len(names) - index)}" y="24" font-size="10" '
        f'fill="{_COLORS[index % 2]}">{escape(name)}</text>'
        for index, name in enumerate(names)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
        f'<title>{escape(title)}</title><text x="4" y="12" font-size="11">{escape(title)}</text>'
        f"{legend}{''.join(parts)}</svg>"
    )
