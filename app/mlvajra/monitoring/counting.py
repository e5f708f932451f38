"""`LiveCounts`: one worker's counts of live values per reference bin, in plain lists.

Counting stays in the process (about a microsecond per record); `mlvajra.monitoring.export`
moves the deltas into Prometheus counters about once a second. Writing each value into the
multiprocess files straight away would cost several microseconds per value (research §2.2).

The service counts a request once its response has left (`count_later`, then `settle`): the
client does not wait for it (0.16 ms of a 1,000-record request), and whatever reads the counts
settles them first, so they stay exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from mlvajra.artifact import Reference
from mlvajra.monitoring.binning import Binner

PREDICTION = "__prediction__"
"""The feature label of the model's predictions: their drift is measured like an input's."""
Records = Sequence[dict[str, Any]]
Columns = dict[str, npt.NDArray[Any]]
SMALL_REQUEST = 16
"""Up to this many records, bins are found one value at a time; above, a column at a time."""


class LiveCounts:
    """Counts per input and bin (and per predicted label or value bin) since the worker started."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.binners: dict[str, Binner] = {
            name: Binner(feature) for name, feature in reference.features.items()
        }
        self.binners[PREDICTION] = Binner(reference.prediction)
        self.counts: dict[str, list[int]] = {
            name: [0] * binner.size for name, binner in self.binners.items()
        }
        self._inputs = [
            (name, binner, self.counts[name])
            for name, binner in self.binners.items()
            if name != PREDICTION
        ]
        self._prediction = self.binners[PREDICTION]
        self._text_prediction = reference.prediction.categories is not None
        self._pending: list[tuple[Records | None, Columns, npt.NDArray[Any]]] = []

    def count_later(
        self,
        records: Records | None,
        columns: Columns,
        predicted: npt.NDArray[Any],
    ) -> None:
        """Hold a request's count until `settle` (`records` None: count the columns)."""
        self._pending.append((records, columns, predicted))

    def settle(self) -> None:
        """Count what `count_later` holds: after a response has left, and before the counts are
        read."""
        pending, self._pending = self._pending, []
        for records, columns, predicted in pending:
            if records is None:
                self.count_columns(columns, predicted)
            else:
                self.count(records, columns, predicted)

    def count(
        self,
        records: Sequence[dict[str, Any]],
        columns: dict[str, npt.NDArray[Any]],
        predicted: npt.NDArray[Any],
    ) -> None:
        """Count validated records (or their model columns) and what the model answered."""
        if len(records) <= SMALL_REQUEST:
            for record in records:
                for name, binner, into in self._inputs:
                    into[binner.index(record[name])] += 1
            into = self.counts[PREDICTION]
            index = self._prediction.index
            for label in predicted.tolist():
                into[
                    index(label if type(label) is str or not self._text_prediction else str(label))
                ] += 1
            return
        self.count_columns(columns, predicted)

    def count_columns(
        self, columns: dict[str, npt.NDArray[Any]], predicted: npt.NDArray[Any]
    ) -> None:
        """Count validated model columns (a request accepted without records) and its answers."""
        for name, binner, into in self._inputs:
            binner.count_column(columns[name], into)
        if not self._text_prediction:
            self._prediction.count_column(predicted, self.counts[PREDICTION])
            return
        # Few distinct labels: each made text once, not once per record.
        into, index = self.counts[PREDICTION], self._prediction.index
        for label, times in Counter(predicted.tolist()).items():
            into[index(label if type(label) is str else str(label))] += times
