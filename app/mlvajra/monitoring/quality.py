"""The manifest's metric computed on labelled traffic, from (label, predicted) counts."""

from __future__ import annotations

import math
from collections import Counter

_MINIMUM_LABELS = 1


def live_metric(name: str, pairs: Counter[tuple[str, str]]) -> float | None:
    """`name` (f1_macro, accuracy, rmse, mae, r2) over the pairs; None without labels."""
    total = sum(pairs.values())
    if total < _MINIMUM_LABELS:
        return None
    if name == "accuracy":
        return sum(n for (label, predicted), n in pairs.items() if label == predicted) / total
    if name == "f1_macro":
        true: Counter[str] = Counter()
        predicted_count: Counter[str] = Counter()
        correct: Counter[str] = Counter()
        for (label, predicted), n in pairs.items():
            true[label] += n
            predicted_count[predicted] += n
            if label == predicted:
                correct[label] += n
        classes = set(true) | set(predicted_count)
        # As scikit-learn's f1_score(average="macro"): every class seen as truth or prediction.
        scores = [2 * correct[c] / (true[c] + predicted_count[c]) for c in classes]
        return sum(scores) / len(scores)
    errors = [(float(label) - float(predicted), n) for (label, predicted), n in pairs.items()]
    if name == "rmse":
        return math.sqrt(sum(e * e * n for e, n in errors) / total)
    if name == "mae":
        return sum(abs(e) * n for e, n in errors) / total
    if name == "r2":
        mean = sum(float(label) * n for (label, _), n in pairs.items()) / total
        spread = sum((float(label) - mean) ** 2 * n for (label, _), n in pairs.items())
        residual = sum(e * e * n for e, n in errors)
        return 1 - residual / spread if spread else None
    return None
