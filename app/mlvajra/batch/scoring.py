"""Score a data source of any size with the service's artifact and validation, batch by batch."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlvajra.artifact import Manifest
from mlvajra.batch.commit import TERMINATED, write_atomically
from mlvajra.batch.ordering import run_sorted
from mlvajra.batch.pipeline import ordered_map, return_freed_memory
from mlvajra.batch.validation import validate_batch
from mlvajra.data.kinds import DataKind, Sink
from mlvajra.errors import DataError
from mlvajra.inputs import Problem
from mlvajra.predictor import Predictions, Predictor
from mlvajra.runners import Columns

LABEL = "label"
VALUE = "value"
PROBABILITY_PREFIX = "probability_"
_TRIM_ROWS = 300_000
"""Rows between two `return_freed_memory` calls: about every 15 batches."""
REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("field", pa.string()), ("reason", pa.string())])
"""The rejects file after the `--keep` columns: `row` counts records from 0 (the API's `row`),
one line per bad value."""


@dataclass(frozen=True)
class BatchSummary:
    """What a run read, wrote and rejected: input_rows == output_rows + rejected_rows."""

    model: str
    input: str
    output: str
    rejects: str
    input_rows: int
    output_rows: int
    rejected_rows: int
    problems: int
    seconds: float
    rows_per_second: float

    def as_dict(self) -> dict[str, Any]:
        """For `--json`."""
        return asdict(self)


def prediction_columns(manifest: Manifest) -> list[str]:
    """Names of the columns a prediction adds: label and one probability per class, or value."""
    if manifest.task == "regression":
        return [VALUE]
    return [LABEL, *(f"{PROBABILITY_PREFIX}{label}" for label in manifest.classes or [])]


def prediction_table(manifest: Manifest, predictions: Predictions) -> pa.Table:
    """Predictions as Arrow columns, in the API's order and precision."""
    if predictions.probabilities is None:
        return pa.table({VALUE: pa.array(predictions.labels.astype(np.float64))})
    names = prediction_columns(manifest)
    arrays = [pa.array(predictions.labels)]
    probabilities = np.asarray(predictions.probabilities)
    arrays += [pa.array(probabilities[:, index]) for index in range(probabilities.shape[1])]
    return pa.Table.from_arrays(arrays, names=names)


def check_columns(manifest: Manifest, available: list[str], keep: list[str]) -> None:
    """Fail before reading a row: a needed column is absent or twice (which one would be read?),
    or a kept one would be overwritten."""
    needed = {spec.name for spec in manifest.inputs} | set(keep)
    twice = sorted({name for name in available if name in needed and available.count(name) > 1})
    if twice:
        raise DataError(f"the input has {len(twice)} duplicate column(s): {', '.join(twice)}")
    for name in [*(spec.name for spec in manifest.inputs), *keep]:
        if name not in available:
            raise DataError(f"the input has no column {name!r}; it has: {', '.join(available)}")
    clashes = set(keep) & set(prediction_columns(manifest))
    if clashes:
        raise DataError(f"--keep {sorted(clashes)[0]} clashes with a prediction column")


def score(
    predictor: Predictor,
    source: DataKind,
    output: DataKind,
    rejects: DataKind,
    keep: list[str],
    on_progress: Callable[[int], None] = lambda rows: None,
    annotate: Callable[[Columns], pa.Table] | None = None,
    summary: Path | None = None,
    workers: int = 1,
) -> BatchSummary:
    """Validate and score every row of `source`; write predictions and rejects atomically.

    `annotate` adds columns to the predictions of each batch (`predict --debug`: every step's
    output and the contributions), computed from the same validated columns. `summary`: the run's
    summary as JSON, the commit of the pair. It is removed before the predictions and rejects are
    renamed into place and written after both: where it exists, the two files beside it come from
    the same run; a run killed between the renames leaves none. `workers`: threads that validate
    and score batches side by side (the runner's `run` must be thread-safe, as onnxruntime's is);
    this thread reads and writes, in the input's order. `annotate` runs on one thread only.
    """
    started = time.perf_counter()
    manifest = predictor.manifest
    check_columns(manifest, source.column_names(), keep)
    inputs = [spec.name for spec in manifest.inputs]
    read = list(dict.fromkeys([*keep, *inputs]))
    # CSV cells are copied as text too: inferring types per block could fail deep into a file
    # or turn an id like 01234 into 1234.
    text_columns = read if source.untyped_text else []
    scorer = _BatchScorer(predictor, keep, source.untyped_text, annotate)
    threads = 1 if annotate is not None else max(1, workers)
    input_rows = output_rows = rejected_rows = problem_count = 0
    sink: Sink | None = None
    reject_sink: Sink | None = None
    schema = reject_schema = pa.schema([])
    batches = _numbered(source.batches(read, text_columns))
    try:
        # One batch scoring per thread and one read ahead: more in flight raised peak RSS.
        with contextlib.closing(ordered_map(scorer, batches, threads, threads + 1)) as scored:
            for result in scored:
                if TERMINATED.is_set():
                    raise SystemExit(128 + signal.SIGTERM)
                if reject_sink is None:
                    # The kept columns' types are the input's: known from the first batch.
                    reject_schema = pa.schema([*result.kept_schema, *REJECT_SCHEMA])
                    reject_sink = rejects.writer(reject_schema)
                if result.rejects is not None:
                    reject_sink.write(_conform(result.rejects, reject_schema))
                    problem_count += result.rejects.num_rows
                    rejected_rows += result.rejected_rows
                if result.predictions is not None:
                    if sink is None:
                        schema = result.predictions.schema
                        sink = output.writer(schema)
                    sink.write(_conform(result.predictions, schema))
                    output_rows += result.predictions.num_rows
                input_rows += result.rows
                if input_rows // _TRIM_ROWS != (input_rows - result.rows) // _TRIM_ROWS:
                    return_freed_memory()
                on_progress(result.rows)
        if sink is None:
            sink = output.writer(_empty_schema(manifest, keep))
        if reject_sink is None:
            reject_sink = rejects.writer(pa.schema([*_text_fields(keep), *REJECT_SCHEMA]))
    except BaseException:
        for opened in (sink, reject_sink):
            if opened is not None:
                opened.abort()
        raise
    if summary is not None:
        summary.unlink(missing_ok=True)
    reject_sink.commit()
    sink.commit()
    seconds = time.perf_counter() - started
    outcome = BatchSummary(
        model=f"{manifest.name}/{manifest.version}",
        input=source.location,
        output=output.location,
        rejects=rejects.location,
        input_rows=input_rows,
        output_rows=output_rows,
        rejected_rows=rejected_rows,
        problems=problem_count,
        seconds=round(seconds, 3),
        rows_per_second=round(input_rows / seconds, 1) if seconds > 0 else 0.0,
    )
    if summary is not None:
        write_atomically(summary, json.dumps(outcome.as_dict(), indent=2).encode())
    return outcome


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table in the output's schema (set by the first batch), or a one-line error."""
    if table.schema.equals(schema):
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        changed = [f.name for f, g in zip(table.schema, schema, strict=True) if f.type != g.type]
        raise DataError(
            f"column {changed[0] if changed else '?'} changed type within the input "
            f"({table.schema.field(changed[0]).type if changed else '?'} after "
            f"{schema.field(changed[0]).type if changed else '?'})"
        ) from None


def _reject_table(
    batch: pa.RecordBatch, keep: list[str], problems: list[Problem], first_row: int
) -> pa.Table:
    """One line per problem: the row's kept columns, its row number in the input, field, reason."""
    rows = pa.array([problem.row for problem in problems], type=pa.int64())
    kept = pa.Table.from_batches([batch.select(keep)]).take(rows)
    table = pa.Table.from_pydict(
        {
            "row": pc.add(rows, first_row),
            "field": [problem.field for problem in problems],
            "reason": [problem.message for problem in problems],
        },
        schema=REJECT_SCHEMA,
    )
    for index, name in enumerate(keep):
        table = table.add_column(index, name, kept.column(name))
    return table


def _text_fields(names: list[str]) -> list[pa.Field]:
    return [pa.field(name, pa.string()) for name in names]


def _empty_schema(manifest: Manifest, keep: list[str]) -> pa.Schema:
    label_type = pa.string()
    classes = manifest.classes or []
    if classes and all(isinstance(label, bool) for label in classes):
        label_type = pa.bool_()
    elif classes and all(isinstance(label, int) for label in classes):
        label_type = pa.int64()
    fields = _text_fields(keep)
    for name in prediction_columns(manifest):
        fields.append(pa.field(name, label_type if name == LABEL else pa.float64()))
    return pa.schema(fields)


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Each batch with the input row number of its first row."""
    first = 0
    for batch in batches:
        yield first, batch
        first += batch.num_rows


@dataclass(frozen=True)
class _ScoredBatch:
    """One batch, validated and scored: what the writing thread appends, in order."""

    rows: int
    kept_schema: pa.Schema
    predictions: pa.Table | None
    rejects: pa.Table | None
    rejected_rows: int


class _BatchScorer:
    """Validation, the model and the output tables of one batch; runs on a worker thread."""

    def __init__(
        self,
        predictor: Predictor,
        keep: list[str],
        untyped_text: bool,
        annotate: Callable[[Columns], pa.Table] | None,
    ) -> None:
        self._predictor = predictor
        self._keep = keep
        self._untyped_text = untyped_text
        self._annotate = annotate

    def __call__(self, numbered: tuple[int, pa.RecordBatch]) -> _ScoredBatch:
        first_row, batch = numbered
        manifest, keep = self._predictor.manifest, self._keep
        result = validate_batch(manifest.inputs, batch, self._untyped_text)
        rejects = None
        if result.problems:
            rejects = _reject_table(batch, keep, result.problems, first_row)
        kept = batch.select(keep)
        predictions = None
        if result.valid_rows:
            if result.valid_rows < batch.num_rows:
                kept = kept.filter(pa.array(result.valid))
            predicted = prediction_table(manifest, run_sorted(self._predictor, result.columns))
            if self._annotate is not None:
                extra = self._annotate(result.columns)
                for name in extra.column_names:
                    predicted = predicted.append_column(name, extra.column(name))
            predictions = predicted
            if keep:
                predictions = pa.Table.from_batches([kept])
                for name in predicted.column_names:
                    predictions = predictions.append_column(name, predicted.column(name))
        return _ScoredBatch(
            rows=batch.num_rows,
            kept_schema=batch.select(keep).schema,
            predictions=predictions,
            rejects=rejects,
            rejected_rows=batch.num_rows - result.valid_rows,
        )
