"""The report as one self-contained HTML file: inline style and SVG plots, no script, no network."""

from __future__ import annotations

from html import escape
from typing import Any

from mlvajra.artifact import Manifest
from mlvajra.explain.card import InputProfile, card_facts
from mlvajra.explain.html import (
    Markup,
    distribution_plots,
    document,
    facts,
    static_text,
    table,
)
from mlvajra.explain.svg import bars, points


def render_report(
    manifest: Manifest,
    figures: dict[str, Any],
    reference: list[InputProfile],
    observed: list[InputProfile],
) -> str:
    """The whole report page."""
    data, metric = figures["data"], figures["metric"]
    sections = [
        f"<h1>Report: {escape(manifest.name)} {escape(manifest.version)} on "
        f"{escape(data['location'])}</h1>",
        f"<h2>Model card</h2>{facts(card_facts(manifest))}",
        "<h2>This data</h2>"
        + facts(
            [
                ("Rows", f"{data['rows_in']} read, {data['reported']} reported"),
                ("Rejected", f"{data['rejected']} (invalid, as `mlvajra predict` rejects them)"),
                ("Without a target", str(data["unlabelled"])),
                ("Scored with", f"model.{figures['model']['format']} in {data['seconds']} s"),
            ]
        ),
        "<h2>Metric</h2>"
        + table(
            ["metric", "this data", "held out at training", "baseline at training"],
            [
                [
                    metric["name"],
                    *map(_fixed, (metric[k] for k in ("this_data", "held_out", "baseline"))),
                ]
            ],
            "metric",
        )
        + table(
            ["metric", "this data"],
            [[name, _fixed(value)] for name, value in figures["metrics"].items()],
            "metrics",
        ),
    ]
    if manifest.task == "classification":
        sections += _classification(figures)
    else:
        sections += _regression(figures)
    for name, rows in figures["slices"].items():
        sections.append(
            f"<h3>{escape(metric['name'])} per {escape(name)}</h3>"
            + table(
                ["category", "rows", metric["name"]],
                [[r["category"], r["rows"], _fixed(r[metric["name"]])] for r in rows],
                "slice",
            )
        )
    if reference:
        sections.append(
            "<h2>Inputs: this data against the training reference</h2>"
            "<p>Shares per bin of the reference rows; values beyond their range are counted in "
            "the end bins.</p>" + distribution_plots(reference, observed)
        )
    worst = figures["worst_rows"]
    if worst:
        what = (
            "1 - probability of the true class" if manifest.task == "classification" else "|error|"
        )
        sections.append(
            f"<h2>Rows the model gets most wrong</h2><p>By {escape(what)}.</p>"
            + table(list(worst[0]), [list(row.values()) for row in worst], "worst")
        )
    head = f"<style>{static_text('style.css')}</style>"
    title = f"report {manifest.name} {manifest.version}"
    return document(title, "<main>" + "".join(sections) + "</main>", head)


def _classification(figures: dict[str, Any]) -> list[str]:
    per_class = figures["per_class"]
    confusion = figures["confusion"]
    labels = confusion["labels"]
    largest = max((n for row in confusion["counts"] for n in row), default=1) or 1
    matrix = [
        [Markup(f"<b>{escape(str(label))}</b>")] + [Markup(_heat(count, largest)) for count in row]
        for label, row in zip(labels, confusion["counts"], strict=True)
    ]
    calibration = figures["calibration"]
    plot = points(
        [item["mean_confidence"] for item in calibration],
        [item["accuracy"] for item in calibration],
        "calibration: accuracy against confidence",
        diagonal=True,
    )
    return [
        "<h2>Per class</h2>"
        + table(
            ["class", "precision", "recall", "f1", "support"],
            [
                [
                    item["class"],
                    *map(_fixed, (item["precision"], item["recall"], item["f1"])),
                    item["support"],
                ]
                for item in per_class
            ],
            "per-class",
        ),
        "<h2>Confusion matrix</h2><p>Rows: the truth; columns: the prediction.</p>"
        + table(["truth \\ predicted", *map(str, labels)], matrix, "confusion"),
        "<h2>Calibration</h2>"
        + f'<div class="plots">{plot}</div>'
        + table(
            ["confidence", "rows", "mean confidence", "accuracy"],
            [list(item.values()) for item in calibration],
            "calibration",
        ),
    ]


def _regression(figures: dict[str, Any]) -> list[str]:
    sample = figures["residual_sample"]
    actual, predicted = sample["actual"], sample["predicted"]
    residuals = [p - a for a, p in zip(actual, predicted, strict=True)]
    scatter = points(actual, predicted, "predicted against actual", diagonal=True)
    spread = points(predicted, residuals, "residual against predicted")
    low, high = (min(residuals), max(residuals)) if residuals else (0.0, 1.0)
    width = (high - low) / 12 or 1.0
    counts = [0] * 12
    for value in residuals:
        counts[min(int((value - low) / width), 11)] += 1
    labels = [f"{low + index * width:.3g}" for index in range(12)]
    histogram = bars(labels, [counts], "residuals")
    return [
        f"<h2>Residuals</h2><p>The first {len(actual)} rows.</p>"
        f'<div class="plots">{scatter}{spread}{histogram}</div>'
    ]


def _fixed(value: float | None) -> str:
    """Metrics at a fixed 4 decimals, as `mlvajra train` prints them."""
    return "undefined" if value is None else f"{value:.4f}"


def _heat(count: int, largest: int) -> str:
    shade = 255 - int(150 * count / largest)
    return f'<span class="heat" style="background: rgb({shade}, {shade}, 255)">{count}</span>'
