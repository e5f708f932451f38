"""`mlvajra verify` is pickle-free by default; `--trust-pickle` is the only way to unpickle."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from mlvajra.artifact import JOBLIB_FILE, REFERENCE_FILE
from mlvajra.cli import cli
from tests.fixtures import CreatesFileWhenUnpickled
from tests.topology.faults import rehash

runner = CliRunner()


def _plant_pickle(artifact: Path, marker: Path) -> None:
    """A pickle that runs code, with a hash that matches: only trust keeps it from running."""
    (artifact / JOBLIB_FILE).write_bytes(pickle.dumps(CreatesFileWhenUnpickled(marker)))
    rehash(artifact, JOBLIB_FILE)


def test_plain_verify_never_unpickles_a_planted_pickle(artifact_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _plant_pickle(artifact_copy, marker)
    result = runner.invoke(cli, ["verify", str(artifact_copy)])
    assert result.exit_code == 0, result.output
    assert "parity ok on 370 rows" in result.output
    assert "against the stored reference outputs" in result.output
    assert not marker.exists()
    # Control: the planted pickle does run when unpickling is asked for (in a child process: the
    # file it opens is never closed).
    command = [sys.executable, "-m", "mlvajra", "verify", str(artifact_copy), "--trust-pickle"]
    trusted = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert trusted.returncode == 1
    assert marker.exists()


def test_trusted_verify_compares_with_scikit_learn(artifact_dir: Path) -> None:
    result = runner.invoke(cli, ["verify", str(artifact_dir), "--trust-pickle"])
    assert result.exit_code == 0, result.output
    assert "parity ok on 344 rows (tolerance 1e-06) against scikit-learn" in result.output


def test_altered_reference_outputs_fail_parity(artifact_copy: Path) -> None:
    path = artifact_copy / REFERENCE_FILE
    with np.load(path, allow_pickle=False) as saved:
        arrays = dict(saved)
    arrays["probabilities"] = arrays["probabilities"][::-1]
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    rehash(artifact_copy, REFERENCE_FILE)
    result = runner.invoke(cli, ["verify", str(artifact_copy)])
    assert result.exit_code == 1
    assert "disagrees" in result.output


def test_a_reference_file_holding_a_pickle_is_refused_unloaded(
    artifact_copy: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    planted = np.empty(1, dtype=object)
    planted[0] = CreatesFileWhenUnpickled(marker)
    buffer = io.BytesIO()
    np.savez(buffer, input_0=planted)  # the first array verify reads
    (artifact_copy / REFERENCE_FILE).write_bytes(buffer.getvalue())
    rehash(artifact_copy, REFERENCE_FILE)
    result = runner.invoke(cli, ["verify", str(artifact_copy)])
    assert result.exit_code == 1
    assert f"unreadable {REFERENCE_FILE}" in result.output
    assert len(result.output.strip().splitlines()) == 2  # "hashes ok" and the one error line
    assert not marker.exists()


def test_verify_data_needs_trust(artifact_dir: Path) -> None:
    result = runner.invoke(cli, ["verify", str(artifact_dir), "--data", "x.csv"])
    assert result.exit_code == 1
    assert "--data needs --trust-pickle" in result.output


def test_predict_with_joblib_needs_trust(artifact_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("island\nDream\n")
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(tmp_path / "out.csv")]
    result = runner.invoke(cli, [*args, "--format", "joblib"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "--trust-pickle" in result.output
    assert "runs code" in result.output
    assert not (tmp_path / "out.csv").exists()
