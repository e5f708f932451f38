"""HTML pieces the explore page and the report share; every value goes through `escape`."""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from html import escape
from typing import Any

from mlvajra.explain.card import InputProfile
from mlvajra.explain.svg import bars


def static_text(name: str) -> str:
    """A file shipped in `mlvajra/explain/static/`."""
    return (importlib.resources.files("mlvajra.explain") / "static" / name).read_text()


def document(title: str, body: str, head: str) -> str:
    """A whole HTML document."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{head}</head><body>{body}</body></html>"
    )


def cell(value: Any) -> str:
    """One value as table text: floats at 4 significant digits, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "") -> str:
    """A table of escaped cells (cells already HTML are passed as `Markup`)."""
    head = "".join(f"<th>{escape(name)}</th>" for name in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html(value)}</td>" for value in row) + "</tr>" for row in rows
    )
    return (
        f'<table class="{escape(css)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


class Markup(str):
    """Text that is already HTML (built here from escaped parts)."""


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list of (label, text)."""
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd>" for label, text in items)
        + "</dl>"
    )


def inputs_table(profiles: Sequence[InputProfile]) -> str:
    """Every input: type, nulls allowed, range or categories in the reference rows."""
    rows = []
    for item in profiles:
        spec = item.spec
        if item.categories is not None:
            seen = ", ".join(f"{name} ({count})" for name, count in item.categories.items())
            extent = f"categories: {seen}"
        elif item.minimum is not None:
            extent = f"{item.minimum:.4g} .. {item.maximum:.4g}, median {item.median:.4g}"
        else:
            extent = "no values"
        rows.append([spec.name, spec.type, "yes" if spec.nullable else "no", extent, item.missing])
    return table(["input", "type", "nullable", "reference rows", "missing"], rows, "inputs")


def distribution_plots(
    profiles: Sequence[InputProfile], others: Sequence[InputProfile] | None = None
) -> str:
    """One plot per input of the reference rows (and, with `others`, of another data set)."""
    plots = []
    for index, item in enumerate(profiles):
        other = others[index] if others is not None else None
        names = ("reference", "this data") if other is not None else ()
        if item.categories is not None:
            labels = list(item.categories)
            if other is not None and other.categories is not None:
                labels += [name for name in other.categories if name not in item.categories]
            series = [_shares([item.categories.get(name, 0) for name in labels])]
            if other is not None and other.categories is not None:
                series.append(_shares([other.categories.get(name, 0) for name in labels]))
        elif item.edges is not None and item.counts is not None:
            labels = [_short(edge) for edge in item.edges[:-1]]
            series = [_shares(item.counts)]
            if other is not None and other.counts is not None:
                series.append(_shares(other.counts))
        else:
            continue
        plots.append(Markup(bars(labels, series, item.spec.name, names)))
    return '<div class="plots">' + "".join(plots) + "</div>"


def _short(number: float) -> str:
    return f"{number:.0f}" if abs(number) >= 100 else f"{number:.3g}"


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts) or 1
    return [count / total for count in counts]


def _html(value: Any) -> str:
    return str(value) if isinstance(value, Markup) else cell(value)
