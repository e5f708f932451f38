"""Batches scored side by side on threads: input order, bounded memory, a failure stops it all."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pyarrow as pa
import pytest

from mlvajra.batch.pipeline import ordered_map
from mlvajra.batch.scoring import score
from mlvajra.data.kinds import DataKind, open_location, read_table
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import Columns, ModelRunner, load_runner
from tests.fixtures import REFERENCE_ROWS

COLUMNS = list(REFERENCE_ROWS[0][0])
BATCHES, ROWS = 12, 7
BAD = {(0, 0), (3, ROWS - 1), (4, 0), (11, ROWS - 1)}
"""(batch, row) cells whose year is text: rejects at both ends of batches."""


def _scoring_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mlvajra-score")]


def _slow_first(item: int) -> int:
    # Earlier items take longer, so a pool that answered in completion order would reorder.
    time.sleep(0.02 * (4 - item % 4))
    return item * 10


def test_results_come_back_in_the_items_order() -> None:
    assert list(ordered_map(_slow_first, range(12), workers=3, ahead=4)) == [
        item * 10 for item in range(12)
    ]


def test_at_most_ahead_items_are_drawn_before_their_results_are_taken() -> None:
    drawn, taken, most = 0, 0, 0

    def items() -> Iterator[int]:
        nonlocal drawn, most
        for item in range(20):
            drawn += 1
            most = max(most, drawn - taken)
            yield item

    for _ in ordered_map(lambda item: item, items(), workers=2, ahead=3):
        taken += 1
    assert taken == 20
    assert most <= 3


def test_a_failing_item_raises_at_its_turn_and_no_thread_outlives_it() -> None:
    started: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        if item == 3:
            raise RuntimeError("item 3 failed")
        time.sleep(0.01)
        return item

    results: list[int] = []
    with pytest.raises(RuntimeError, match="item 3 failed"):
        results.extend(ordered_map(work, range(100), workers=2, ahead=4))
    assert results == [0, 1, 2]
    assert len(started) <= 3 + 4  # the failure's turn, then at most `ahead` in flight
    assert _scoring_threads() == []


class _Batches(DataKind):
    """`BATCHES` batches of `ROWS` penguins with ids 0.., a text year at the `BAD` cells."""

    name = "batches"
    untyped_text = True

    def column_names(self) -> list[str]:
        return ["id", *COLUMNS]

    def batches(
        self, columns: list[str] | None = None, text_columns: Any = ()
    ) -> Iterator[pa.RecordBatch]:
        for index in range(BATCHES):
            rows = []
            for row in range(ROWS):
                record = {"id": str(index * ROWS + row)}
                for name, value in REFERENCE_ROWS[row % 3][0].items():
                    record[name] = None if value is None else str(value)
                if (index, row) in BAD:
                    record["year"] = "soon"
                rows.append(record)
            yield pa.RecordBatch.from_pylist(rows).select(columns or self.column_names())


class _UnevenRunner:
    """The real runner, slower on every other call so that later batches finish first; fails on
    call `fail_at` when set."""

    def __init__(self, runner: ModelRunner, fail_at: int | None = None) -> None:
        self._runner = runner
        self._calls = 0
        self._lock = threading.Lock()
        self._fail_at = fail_at

    def run(self, columns: Columns) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        with self._lock:
            self._calls += 1
            call = self._calls
        if call == self._fail_at:
            raise RuntimeError(f"the model failed on call {call}")
        time.sleep(0.03 if call % 2 else 0.0)
        return self._runner.run(columns)


def _predictor(artifact_dir: Path, fail_at: int | None = None) -> Predictor:
    manifest = read_manifest(artifact_dir)
    return Predictor(manifest, _UnevenRunner(load_runner(artifact_dir, manifest, "onnx"), fail_at))


def test_threads_keep_the_input_order_and_number_rejects_across_batches(
    artifact_dir: Path, tmp_path: Path
) -> None:
    outputs = {}
    for workers in (1, 3):
        output, rejects = tmp_path / f"out{workers}.parquet", tmp_path / f"rej{workers}.csv"
        summary = score(
            _predictor(artifact_dir),
            _Batches("batches"),
            open_location(output),
            open_location(rejects),
            keep=["id"],
            workers=workers,
        )
        assert (summary.input_rows, summary.rejected_rows) == (BATCHES * ROWS, len(BAD))
        bad_rows = sorted(batch * ROWS + row for batch, row in BAD)
        with rejects.open(newline="") as handle:
            lines = list(csv.DictReader(handle))
        assert [int(line["row"]) for line in lines] == bad_rows
        assert [int(line["id"]) for line in lines] == bad_rows
        table = read_table(output)
        ids = [int(value) for value in table.column("id").to_pylist()]
        assert ids == [row for row in range(BATCHES * ROWS) if row not in bad_rows]
        outputs[workers] = table
    assert outputs[3].equals(outputs[1])


def test_a_failure_on_a_scoring_thread_stops_the_run_and_commits_nothing(
    artifact_dir: Path, tmp_path: Path
) -> None:
    output, summary = tmp_path / "out.parquet", tmp_path / "out.summary.json"
    output.write_bytes(b"yesterday's predictions")
    summary.write_text("yesterday's summary")
    with pytest.raises(RuntimeError, match="the model failed on call 5"):
        score(
            _predictor(artifact_dir, fail_at=5),
            _Batches("batches"),
            open_location(output),
            open_location(tmp_path / "out.rejects.csv"),
            keep=["id"],
            summary=summary,
            workers=2,
        )
    assert output.read_bytes() == b"yesterday's predictions"
    assert summary.read_text() == "yesterday's summary"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "out.summary.json"]
    assert _scoring_threads() == []
