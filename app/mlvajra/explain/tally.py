"""The report's figures, counted batch by batch as the batch path scores: memory stays bounded.

`TallyKind` is a data kind whose sink feeds a `Tally` instead of a file, so `batch.scoring.score`
validates and scores the report's data exactly as `mlvajra predict` does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlvajra.artifact import Manifest
from mlvajra.batch.scoring import LABEL, PROBABILITY_PREFIX, VALUE
from mlvajra.data.kinds import DataKind, Sink
from mlvajra.explain.card import InputProfile

WORST_ROWS = 20
SAMPLE_ROWS = 2000
CALIBRATION_BINS = 10
MISSING = "(missing)"
OTHER = "(other)"


class Tally:
    """Confusion or error sums, calibration, slices, distributions and the worst rows."""

    def __init__(self, manifest: Manifest, profiles: list[InputProfile]) -> None:
        self.manifest = manifest
        self.target = manifest.target
        self.profiles = {item.spec.name: item for item in profiles}
        self.rows = 0
        self.unlabelled = 0
        self.confusion: Counter[tuple[str, str]] = Counter()
        self.slices: dict[str, Counter[tuple[Any, ...]]] = {
            spec.name: Counter() for spec in manifest.inputs if spec.type == "string"
        }
        self.calibration = np.zeros((3, CALIBRATION_BINS))  # rows, confidence sum, correct
        self.sums = np.zeros(5)  # n, squared error, absolute error, y, y squared
        self.sample: list[tuple[float, float]] = []
        self.histograms: dict[str, npt.NDArray[np.int64]] = {}
        self.categories: dict[str, Counter[str]] = {}
        self.missing: Counter[str] = Counter()
        self.worst: list[dict[str, Any]] = []

    def add(self, table: pa.Table) -> None:
        """Count one batch of scored rows (target and inputs kept beside the predictions)."""
        labelled = pc.is_valid(table.column(self.target))
        self.unlabelled += table.num_rows - pc.sum(labelled).as_py() if table.num_rows else 0
        table = table.filter(labelled)
        if not table.num_rows:
            return
        self.rows += table.num_rows
        self._distributions(table)
        if self.manifest.task == "classification":
            loss = self._classification(table)
        else:
            loss = self._regression(table)
        self._keep_worst(table, loss)

    def _classification(self, table: pa.Table) -> npt.NDArray[np.float64]:
        truth = _text(table.column(self.target))
        predicted = _text(table.column(LABEL))
        self.confusion.update(zip(truth, predicted, strict=True))
        for name, counts in self.slices.items():
            counts.update(zip(self._slice_keys(table, name), truth, predicted, strict=True))
        classes = [str(label) for label in self.manifest.classes or []]
        probabilities = np.column_stack(
            [table.column(f"{PROBABILITY_PREFIX}{label}").to_numpy() for label in classes]
        ).astype(np.float64)
        confidence = probabilities.max(axis=1)
        correct = truth == predicted
        bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
        for row, weights in enumerate((None, confidence, correct.astype(np.float64))):
            self.calibration[row] += np.bincount(bins, weights, CALIBRATION_BINS)
        index = {label: position for position, label in enumerate(classes)}
        chosen = np.array([index.get(label, -1) for label in truth])
        true_probability = np.where(
            chosen >= 0, probabilities[np.arange(len(chosen)), np.maximum(chosen, 0)], 0.0
        )
        return np.asarray(1.0 - true_probability)

    def _regression(self, table: pa.Table) -> npt.NDArray[np.float64]:
        truth = _floats(table.column(self.target))
        predicted = _floats(table.column(VALUE))
        error = predicted - truth
        self.sums += [len(truth), error @ error, np.abs(error).sum(), truth.sum(), truth @ truth]
        for name, counts in self.slices.items():
            for key, y, e in zip(self._slice_keys(table, name), truth, error, strict=True):
                counts[(key, "n")] += 1
                counts[(key, "sse")] += e * e
                counts[(key, "sae")] += abs(e)
                counts[(key, "sy")] += y
                counts[(key, "syy")] += y * y
        room = SAMPLE_ROWS - len(self.sample)
        if room > 0:
            self.sample += list(zip(truth[:room].tolist(), predicted[:room].tolist(), strict=True))
        return np.asarray(np.abs(error))

    def _slice_keys(self, table: pa.Table, name: str) -> list[str]:
        known = set(self.manifest.inputs[self._position(name)].categories or [])
        return [
            MISSING if value is None else value if value in known else OTHER
            for value in table.column(name).cast(pa.string()).to_pylist()
        ]

    def _position(self, name: str) -> int:
        return [spec.name for spec in self.manifest.inputs].index(name)

    def _distributions(self, table: pa.Table) -> None:
        for name, item in self.profiles.items():
            column = table.column(name)
            self.missing[name] += column.null_count
            if item.categories is not None:
                self.categories.setdefault(name, Counter()).update(
                    value for value in column.cast(pa.string()).to_pylist() if value is not None
                )
            elif item.edges is not None:
                values = _floats(column)
                values = np.clip(values[~np.isnan(values)], item.edges[0], item.edges[-1])
                counts, _ = np.histogram(values, bins=item.edges)
                self.histograms[name] = self.histograms.get(name, 0) + counts

    def _keep_worst(self, table: pa.Table, loss: npt.NDArray[np.float64]) -> None:
        count = min(WORST_ROWS, len(loss))
        picked = np.argpartition(-loss, count - 1)[:count]
        names = [self.target, *(spec.name for spec in self.manifest.inputs)]
        names.append(LABEL if self.manifest.task == "classification" else VALUE)
        rows = table.select(names).take(pa.array(picked)).to_pylist()
        for row, value in zip(rows, loss[picked].tolist(), strict=True):
            row["loss"] = value
        self.worst = sorted([*self.worst, *rows], key=lambda row: -row["loss"])[:WORST_ROWS]


class TallyKind(DataKind):
    """An output location that counts into a `Tally` and writes nothing."""

    name = "report tally"

    def __init__(self, tally: Tally) -> None:
        super().__init__("<report>")
        self.tally = tally

    def column_names(self) -> list[str]:
        return []

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        return iter(())

    def writer(self, schema: pa.Schema) -> Sink:
        return _CallbackSink(self.tally.add)


class RejectCount(TallyKind):
    """The rejects location of a report: counts the problems per field, writes nothing."""

    name = "report rejects"

    def __init__(self) -> None:
        DataKind.__init__(self, "<rejects>")
        self.fields: Counter[str] = Counter()

    def writer(self, schema: pa.Schema) -> Sink:
        return _CallbackSink(self._count)

    def _count(self, table: pa.Table) -> None:
        self.fields.update(str(name) for name in table.column("field").to_pylist())


class _CallbackSink(Sink):
    """Hands every table to `consume`; there is nothing to commit or remove."""

    def __init__(self, consume: Callable[[pa.Table], None]) -> None:
        self._consume = consume

    def write(self, table: pa.Table) -> None:
        self._consume(table)

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _text(column: Any) -> npt.NDArray[Any]:
    """Labels as text: a CSV's target is text, the model's labels may be numbers."""
    return np.asarray(column.cast(pa.string()).to_pylist(), dtype=object)


def _floats(column: Any) -> npt.NDArray[np.float64]:
    values = column.cast(pa.float64()) if column.type != pa.float64() else column
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def finite(value: float) -> float | None:
    """JSON-safe: NaN and infinities become None."""
    return value if math.isfinite(value) else None
