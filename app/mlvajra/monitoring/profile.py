"""The reference profile, built at training from the training split and held-out predictions.

Bins follow ../shared/research/monitoring.md §2.1: B = clamp(m // 50, 4, 10) quantile bins of
the m training values plus `below`, `above` (and `__missing__` when nullable); a number with at
most B distinct values, and every text input, is categorical (the 20 most frequent categories
plus `__other__`). Shares are smoothed with +0.5 per bin, so none is 0 and ln() stays finite.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mlvajra.artifact import FeatureReference, InputSpec, Reference
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.monitoring.binning import ABOVE, BELOW, OTHER, Binner, psi

SMOOTHING = 0.5
PSI_WATCH = 0.1
PSI_ACT = 0.25
MAX_CATEGORIES = 20
_MIN_BINS, _MAX_BINS, _ROWS_PER_BIN = 4, 10, 50
_Z_99 = 2.3263478740408408  # the standard normal's 99th percentile
_NEVER = 10**9  # min_count when no window size makes PSI quiet enough (too few training rows)


def build_reference(
    inputs: Sequence[InputSpec],
    train_features: pd.DataFrame,
    test_features: pd.DataFrame,
    predict: Callable[[pd.DataFrame], npt.NDArray[Any]],
    classes: Sequence[object] | None,
) -> Reference:
    """The profile of `train_features` (model frame columns) and of the model's predictions.

    Predictions are profiled on training and held-out rows together: held-out rows alone (69
    for penguins) are too few for any window size to keep PSI's no-drift noise under 0.1.
    """
    features = {}
    for spec in inputs:
        column = _plain(train_features[spec.name], spec)
        reference = _profile(column, spec.nullable, spec.type == "string")
        binner = Binner(reference)
        heldout = psi(binner.counts(_plain(test_features[spec.name], spec)), reference.ratios)
        features[spec.name] = reference.model_copy(update={"heldout_psi": _rounded(heldout)})
    predicted = np.concatenate([predict(train_features), predict(test_features)])
    if classes is not None:
        labels = np.asarray([str(label) for label in predicted.tolist()], dtype=object)
        prediction = _categorical(labels, [str(label) for label in classes], nullable=False)
    else:
        prediction = _profile(predicted.astype(np.float64), False, False)
    return Reference(
        rows=len(train_features),
        smoothing=SMOOTHING,
        psi_watch=PSI_WATCH,
        psi_act=PSI_ACT,
        features=features,
        prediction=prediction,
    )


def min_count(bins: int, rows: int) -> int:
    """Smallest window n whose no-drift PSI stays under `PSI_WATCH` 99 times in 100.

    Under no drift PSI ~ (1/n + 1/m) chi2(bins - 1) (research §1.2); the chi-square quantile is
    Wilson and Hilferty's approximation (13.30 for 4 degrees of freedom, exact 13.28).
    """
    freedom = max(bins - 1, 1)
    third = 2 / (9 * freedom)
    quantile = freedom * (1 - third + _Z_99 * math.sqrt(third)) ** 3
    room = PSI_WATCH - quantile / rows
    return math.ceil(quantile / room) if room > 0 else _NEVER


def _plain(column: pd.Series, spec: InputSpec) -> npt.NDArray[Any]:
    """A column as the service sees it: text with the missing marker, numbers as float64 with NaN
    (a user's frame may hold None/NaN text, `category` or nullable `Int64` columns)."""
    if spec.type == "string":
        text = column.astype(object)
        return np.asarray(text.where(text.notna(), MISSING_CATEGORY).to_numpy(), dtype=object)
    return np.asarray(column.astype("float64").to_numpy(), dtype=np.float64)


def _profile(column: npt.NDArray[Any], nullable: bool, text: bool) -> FeatureReference:
    if text:
        return _categorical(column, None, nullable)
    values = column.astype(np.float64)
    present = values[~np.isnan(values)]
    target = min(max(len(values) // _ROWS_PER_BIN, _MIN_BINS), _MAX_BINS)
    distinct = np.unique(present)
    if len(distinct) <= target:
        return _categorical(values, distinct.tolist(), nullable)
    for bins in range(target, 1, -1):
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))).tolist()
        if min_count(len(edges) - 1, len(values)) < _NEVER or bins == 2:
            break
    names = [BELOW, *(f"b{i}" for i in range(len(edges) - 1)), ABOVE]
    if nullable:
        names.append(MISSING_CATEGORY)
    draft = FeatureReference(
        kind="numeric", edges=edges, bins=names, ratios=[0.0] * len(names), min_count=0
    )
    return _smoothed(draft, Binner(draft).counts(values), len(edges) - 1)


def _categorical(
    column: npt.NDArray[Any], levels: Sequence[Any] | None, nullable: bool
) -> FeatureReference:
    """Categories (text, or a few numbers) kept in order of frequency, then the rest."""
    text = levels is None or any(isinstance(level, str) for level in levels)
    if levels is None:
        seen = Counter(value for value in column.tolist() if value != MISSING_CATEGORY)
        levels = [value for value, _ in seen.most_common(MAX_CATEGORIES)]
    names = [str(level) if text else format(level, "g") for level in levels]
    names.append(OTHER)
    if nullable:
        names.append(MISSING_CATEGORY)
    draft = FeatureReference(
        kind="categorical",
        categories=[str(level) for level in levels] if text else None,
        values=None if text else [float(level) for level in levels],
        bins=names,
        ratios=[0.0] * len(names),
        min_count=0,
    )
    return _smoothed(draft, Binner(draft).counts(column), len(levels) + 1)


def _smoothed(draft: FeatureReference, counts: list[int], bins: int) -> FeatureReference:
    total = sum(counts) + SMOOTHING * len(counts)
    ratios = [(count + SMOOTHING) / total for count in counts]
    return draft.model_copy(
        update={"ratios": ratios, "min_count": min_count(bins, max(sum(counts), 1))}
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
