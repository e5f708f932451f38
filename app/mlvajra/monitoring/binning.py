"""Which reference bin a value falls in: one `Binner` per input, from the manifest's reference.

The API's records and batch columns are binned by the same object, so the service, `/drift`
and training's self-check count alike. Bin names come from the manifest only: a value no bin
knows goes to `__other__` (or `below`/`above`), never to a new label.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.artifact import FeatureReference
from mlvajra.inputs import MISSING_CATEGORY

OTHER = "__other__"
BELOW = "below"
ABOVE = "above"


class Binner:
    """Maps values of one input to indexes into its reference's `bins`."""

    def __init__(self, reference: FeatureReference) -> None:
        self.reference = reference
        self.bins = reference.bins
        self.size = len(reference.bins)
        self._missing = self.size - 1 if reference.bins[-1] == MISSING_CATEGORY else None
        self._edges = reference.edges or []
        self._top = self._edges[-1] if self._edges else math.nan
        self._last = len(self._edges) - 1  # the index of the bin closed at the maximum
        self._above = len(self._edges)
        levels: Sequence[str | float] = reference.categories or reference.values or []
        other = self.bins.index(OTHER) if OTHER in self.bins else self.size - 1
        self._index = _Levels({level: i for i, level in enumerate(levels)}, other)
        if self._missing is not None:
            self._index[None] = self._index[MISSING_CATEGORY] = self._missing
        # One lookup per kind, chosen once: it runs for every value of every record, and a
        # category is found by the dict's own C lookup, without a Python call.
        self.index: Callable[[Any], int] = self._numeric if self._edges else self._index.__getitem__

    def _numeric(self, value: Any) -> int:
        if value is None:
            return self._missing if self._missing is not None else self.size - 1
        if value >= self._top:
            return self._last if value == self._top else self._above
        return bisect_right(self._edges, value)

    def count_values(self, values: Iterable[Any], into: list[int]) -> None:
        """Add each value's bin to `into` (one-record requests: cheaper than numpy's calls)."""
        for value in values:
            into[self.index(value)] += 1

    def count_column(self, column: npt.NDArray[Any], into: list[int]) -> None:
        """Add a whole column (float64 with NaN, or text with the missing marker) to `into`."""
        flat = column.reshape(-1)
        if self._edges and flat.dtype.kind == "f":
            positions = np.searchsorted(self._edges, flat, side="right")
            positions[flat == self._top] = self._last
            if self._missing is not None:
                positions[np.isnan(flat)] = self._missing
            counts = np.bincount(positions, minlength=self.size)
            for i, count in enumerate(counts.tolist()[: self.size]):
                into[i] += count
            return
        # Text and few-valued numbers: few distinct values, each looked up once (numbers found by
        # numpy's sort, NaNs as one: 39 against 143 us for 1,000 values).
        if flat.dtype.kind == "f":
            values, counts = np.unique(flat, return_counts=True)
            distinct = dict(zip(values.tolist(), counts.tolist(), strict=True))
        else:
            distinct = Counter(flat.tolist())
        for value, count in distinct.items():
            missing = value != value  # NaN
            into[self.index(None if missing else value)] += count

    def counts(self, values: Iterable[Any]) -> list[int]:
        """A fresh count per bin of `values` (a column of any length)."""
        into = [0] * self.size
        self.count_column(np.asarray(list(values)), into)
        return into


class _Levels(dict[Any, int]):
    """Category -> bin, and `__other__`'s bin for anything else."""

    def __init__(self, levels: dict[Any, int], other: int) -> None:
        super().__init__(levels)
        self.other = other

    def __missing__(self, key: Any) -> int:
        return self.other


def psi(counts: Sequence[int], ratios: Sequence[float], smoothing: float = 0.5) -> float | None:
    """Population stability index of live `counts` against reference `ratios` (None if empty).

    Live shares are smoothed like the reference's, (count + 0.5) / (n + 0.5 bins), as the
    Prometheus recording rule does: a floor such as Evidently's 1e-4 made one empty bin with a 4 %
    reference share worth PSI 0.25 on its own in a 69-row window.
    """
    total = sum(counts)
    if total == 0:
        return None
    denominator = total + smoothing * len(counts)
    value = 0.0
    for count, expected in zip(counts, ratios, strict=True):
        live = (count + smoothing) / denominator
        value += (live - expected) * math.log(live / expected)
    return value
