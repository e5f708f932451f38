"""`mlvajra report`: the project team's figures for labelled data, scored by the batch path."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlvajra.artifact import Format, Manifest
from mlvajra.batch.progress import progress
from mlvajra.batch.scoring import score
from mlvajra.data import open_location
from mlvajra.errors import DataError
from mlvajra.explain.card import InputProfile, read_reference
from mlvajra.explain.tally import CALIBRATION_BINS, RejectCount, Tally, TallyKind, finite
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner


def build_report(
    model_dir: Path, manifest: Manifest, data: str, model_format: Format, show_progress: bool
) -> tuple[dict[str, Any], list[InputProfile], list[InputProfile]]:
    """Score `data` through the batch path and count the report's figures as it goes.

    Returns the figures (the `--json` document), the reference profiles and this data's.
    """
    source = open_location(data)
    if manifest.target not in source.column_names():
        raise DataError(f"the data has no target column {manifest.target!r} to compare with")
    reference = read_reference(model_dir, manifest)
    tally = Tally(manifest, reference.profiles)
    rejects = RejectCount()
    predictor = Predictor(manifest, load_runner(model_dir, manifest, model_format))
    keep = list(dict.fromkeys([manifest.target, *(spec.name for spec in manifest.inputs)]))
    total = source.row_count() if show_progress else None
    with progress(show_progress, total) as advance:
        summary = score(predictor, source, TallyKind(tally), rejects, keep, advance)
    if not tally.rows:
        raise DataError(f"no labelled valid rows in {data} to report on")
    figures: dict[str, Any] = {
        "model": {"name": manifest.name, "version": manifest.version, "format": model_format},
        "data": {
            "location": source.location,
            "rows_in": summary.input_rows,
            "rejected": summary.rejected_rows,
            "rejected_by_field": dict(rejects.fields.most_common()),
            "unlabelled": tally.unlabelled,
            "reported": tally.rows,
            "seconds": summary.seconds,
        },
    }
    if manifest.task == "classification":
        figures |= _classification(tally)
    else:
        figures |= _regression(tally)
    name = manifest.metrics.name
    figures["metric"] = {
        "name": name,
        "this_data": figures["metrics"][name],
        "held_out": manifest.metrics.value,
        "held_out_cv_mean": manifest.metrics.cv_mean,
        "baseline": manifest.baseline_metrics.value,
    }
    figures["worst_rows"] = tally.worst
    observed = [_observed(item, tally) for item in reference.profiles]
    figures["distributions"] = {
        item.spec.name: {
            "reference": item.categories or item.counts,
            "data": seen.categories or seen.counts,
            "edges": item.edges,
            "missing": seen.missing,
        }
        for item, seen in zip(reference.profiles, observed, strict=True)
    }
    return figures, reference.profiles, observed


def classification_scores(confusion: Counter[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy, macro F1 and per-class figures from a confusion count, as scikit-learn has them
    (macro F1 over every label seen as truth or prediction; 0 where undefined)."""
    labels = sorted({label for pair in confusion for label in pair})
    total = sum(confusion.values())
    per_class = []
    for label in labels:
        tp = confusion[(label, label)]
        predicted = sum(n for (_, p), n in confusion.items() if p == label)
        support = sum(n for (t, _), n in confusion.items() if t == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * tp / (predicted + support) if predicted + support else 0.0
        per_class.append(
            {"class": label, "precision": precision, "recall": recall, "f1": f1, "support": support}
        )
    accuracy = sum(confusion[(label, label)] for label in labels) / total if total else 0.0
    f1_macro = float(np.mean([item["f1"] for item in per_class])) if per_class else 0.0
    return {
        "labels": labels,
        "metrics": {"f1_macro": f1_macro, "accuracy": accuracy},
        "per_class": per_class,
    }


def regression_scores(n: float, sse: float, sae: float, sy: float, syy: float) -> dict[str, Any]:
    """RMSE, MAE and R^2 from sums (R^2 is undefined, None, when the truth is constant)."""
    total = syy - sy * sy / n if n else 0.0
    return {
        "rmse": math.sqrt(sse / n) if n else None,
        "mae": sae / n if n else None,
        "r2": finite(1.0 - sse / total) if total > 0 else None,
    }


def _classification(tally: Tally) -> dict[str, Any]:
    scores = classification_scores(tally.confusion)
    labels = scores.pop("labels")
    metric = tally.manifest.metrics.name
    slices: dict[str, list[dict[str, Any]]] = {}
    for name, counts in tally.slices.items():
        rows = []
        for key in sorted({key for key, _, _ in counts}):
            part = Counter({(t, p): n for (k, t, p), n in counts.items() if k == key})
            rows.append(
                {
                    "category": key,
                    "rows": sum(part.values()),
                    metric: classification_scores(part)["metrics"][metric],
                }
            )
        slices[name] = rows
    in_bin, confidence, correct = tally.calibration
    calibration = [
        {
            "bin": f"{index / CALIBRATION_BINS:.1f}-{(index + 1) / CALIBRATION_BINS:.1f}",
            "rows": int(in_bin[index]),
            "mean_confidence": float(confidence[index] / in_bin[index]),
            "accuracy": float(correct[index] / in_bin[index]),
        }
        for index in range(CALIBRATION_BINS)
        if in_bin[index]
    ]
    return scores | {
        "confusion": {
            "labels": labels,
            "counts": [[tally.confusion[(t, p)] for p in labels] for t in labels],
        },
        "calibration": calibration,
        "slices": slices,
    }


def _regression(tally: Tally) -> dict[str, Any]:
    metric = tally.manifest.metrics.name
    slices: dict[str, list[dict[str, Any]]] = {}
    for name, counts in tally.slices.items():
        rows = []
        for key in sorted({key for key, _ in counts}):
            sums = [counts[(key, part)] for part in ("n", "sse", "sae", "sy", "syy")]
            rows.append(
                {"category": key, "rows": int(sums[0]), metric: regression_scores(*sums)[metric]}
            )
        slices[name] = rows
    actual = [a for a, _ in tally.sample]
    predicted = [p for _, p in tally.sample]
    return {
        "metrics": regression_scores(*tally.sums.tolist()),
        "residual_sample": {"actual": actual, "predicted": predicted},
        "slices": slices,
    }


def _observed(item: InputProfile, tally: Tally) -> InputProfile:
    """This data's distribution of an input, in the reference's bins or categories."""
    name = item.spec.name
    if item.categories is not None:
        return replace(
            item,
            missing=tally.missing[name],
            categories=dict(tally.categories.get(name, Counter()).most_common()),
        )
    counts = tally.histograms.get(name)
    return replace(
        item,
        missing=tally.missing[name],
        counts=None if counts is None else [int(count) for count in counts],
    )
