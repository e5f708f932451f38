"""A real `mlvajra predict` stopped mid-run: SIGTERM leaves nothing, SIGKILL's leftovers are
removed by the next run, and the summary written last is the commit of predictions + rejects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlvajra.data.kinds import remove_stale_temps
from tests.fixtures import REFERENCE_ROWS

ROWS = 300_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough penguins (some invalid) that scoring takes a few batches."""
    record = REFERENCE_ROWS[0][0]
    header = ",".join(record)
    line = ",".join(str(value) for value in record.values())
    bad = line.replace("2007", "not-a-year")
    path = tmp_path_factory.mktemp("big") / "in.csv"
    path.write_text(header + "\n" + (f"{line}\n" * 99 + f"{bad}\n") * (ROWS // 100))
    return path


def _start(artifact_dir: Path, source: Path, out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "mlvajra", "predict", str(source), str(out)]
    return subprocess.Popen(
        [*command, "--model-dir", str(artifact_dir), "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def _stop_mid_run(process: subprocess.Popen[bytes], folder: Path, how: signal.Signals) -> int:
    """Wait (bounded) until the run has temp files open, then send `how`; its exit code."""
    deadline = time.monotonic() + 60
    while not _temps(folder) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(how)
    process.communicate(timeout=60)
    return process.returncode


def test_sigterm_mid_run_leaves_no_file(artifact_dir: Path, big_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code = _stop_mid_run(_start(artifact_dir, big_csv, out), tmp_path, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_after_sigkill_the_next_run_cleans_up_and_commits_the_pair(
    artifact_dir: Path, big_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    code = _stop_mid_run(_start(artifact_dir, big_csv, out), tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = _temps(tmp_path)
    assert left, "a killed run leaves its temp files"
    assert not (tmp_path / "out.summary.json").exists()  # nothing committed

    finished = _start(artifact_dir, big_csv, out)
    _, errors = finished.communicate(timeout=120)
    assert finished.returncode == 0, errors.decode()
    assert _temps(tmp_path) == []
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["output_rows"] + summary["rejected_rows"] == ROWS
    assert summary["rejected_rows"] == ROWS // 100
    # The summary was written after both files: neither is newer than it.
    written = (tmp_path / "out.summary.json").stat().st_mtime_ns
    assert out.stat().st_mtime_ns <= written
    assert (tmp_path / "out.rejects.csv").stat().st_mtime_ns <= written


def test_only_temps_of_dead_writers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.csv.{dead.pid}.abc123.tmp"
    live = tmp_path / f".out.csv.{os.getpid()}.def456.tmp"
    for path in (stale, live):
        path.write_text("partial")
    assert remove_stale_temps(target) == [stale]
    assert live.exists()
