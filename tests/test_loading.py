"""Hash the bytes you load: a file swapped after its hash passed is never what gets loaded."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlvajra import runners
from mlvajra.artifact import JOBLIB_FILE, ONNX_FILE
from mlvajra.folder import read_manifest
from mlvajra.runners import load_runner
from tests.fixtures import REFERENCE_ROWS, CreatesFileWhenUnpickled


def _swap_after_hashing(monkeypatch: pytest.MonkeyPatch, path: Path, content: bytes) -> None:
    """Replace `path` right after its hash passed, before anything loads (the race, made sure)."""
    original = runners.read_verified

    def hash_then_swap(*args: Any) -> bytes:
        data = original(*args)
        path.write_bytes(content)
        return data

    monkeypatch.setattr(runners, "read_verified", hash_then_swap)


def _columns() -> dict[str, np.ndarray]:
    record = REFERENCE_ROWS[0][0]
    return {
        name: np.asarray([value], dtype=object if isinstance(value, str) else np.float64).reshape(
            -1, 1
        )
        for name, value in record.items()
    }


def test_a_swapped_onnx_file_is_not_what_loads(
    artifact_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = read_manifest(artifact_copy)
    expected = load_runner(artifact_copy, manifest, "onnx").run(_columns())
    _swap_after_hashing(monkeypatch, artifact_copy / ONNX_FILE, b"not onnx")
    labels, probabilities = load_runner(artifact_copy, manifest, "onnx").run(_columns())
    assert (artifact_copy / ONNX_FILE).read_bytes() == b"not onnx", "control: it was swapped"
    assert labels.tolist() == expected[0].tolist()
    assert np.array_equal(probabilities, expected[1])


def test_a_swapped_joblib_file_is_never_unpickled(
    artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    planted = pickle.dumps(CreatesFileWhenUnpickled(marker))
    manifest = read_manifest(artifact_copy)
    _swap_after_hashing(monkeypatch, artifact_copy / JOBLIB_FILE, planted)
    labels, _ = load_runner(artifact_copy, manifest, "joblib").run(_columns())
    assert (artifact_copy / JOBLIB_FILE).read_bytes() == planted, "control: it was swapped"
    assert not marker.exists()
    assert labels.tolist() == [REFERENCE_ROWS[0][1]]
