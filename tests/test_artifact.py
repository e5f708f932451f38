"""Manifest parsing, hash checks, and the rule that nothing unverified is unpickled."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from mlvajra.artifact import JOBLIB_FILE, MANIFEST_NAME, ONNX_FILE, REFERENCE_FILE
from mlvajra.errors import ArtifactError
from mlvajra.folder import read_manifest, verify_files
from mlvajra.runners import load_runner
from tests.fixtures import CreatesFileWhenUnpickled


def test_manifest_round_trips(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.name == "penguins"
    assert manifest.version == "1"
    assert set(manifest.files) == {JOBLIB_FILE, ONNX_FILE, REFERENCE_FILE}
    verify_files(artifact_dir, manifest)


def test_tampered_onnx_is_refused_in_one_line(artifact_copy: Path) -> None:
    with (artifact_copy / ONNX_FILE).open("ab") as handle:
        handle.write(b"\0")
    manifest = read_manifest(artifact_copy)
    with pytest.raises(ArtifactError, match="sha256 mismatch") as caught:
        load_runner(artifact_copy, manifest, "onnx")
    assert "\n" not in str(caught.value)


def test_tampered_joblib_is_never_unpickled(artifact_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (artifact_copy / JOBLIB_FILE).write_bytes(pickle.dumps(CreatesFileWhenUnpickled(marker)))
    manifest = read_manifest(artifact_copy)
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_runner(artifact_copy, manifest, "joblib")
    assert not marker.exists()


def test_missing_file_is_named(artifact_copy: Path) -> None:
    (artifact_copy / ONNX_FILE).unlink()
    with pytest.raises(ArtifactError, match=f"missing artifact file .*{ONNX_FILE}"):
        verify_files(artifact_copy, read_manifest(artifact_copy))


def test_invalid_manifest_names_the_field(artifact_copy: Path) -> None:
    path = artifact_copy / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["task"] = "clustering"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="task"):
        read_manifest(artifact_copy)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read"):
        read_manifest(tmp_path)


def test_joblib_runner_matches_onnx_runner(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    columns = {
        "island": np.array([["Dream"], ["Biscoe"]], dtype=object),
        "bill_length_mm": np.array([[46.5], [np.nan]]),
        "bill_depth_mm": np.array([[17.9], [13.2]]),
        "flipper_length_mm": np.array([[192.0], [211.0]]),
        "body_mass_g": np.array([[3500.0], [4500.0]]),
        "sex": np.array([["female"], ["__missing__"]], dtype=object),
        "year": np.array([[2007.0], [2009.0]]),
    }
    onnx_labels, onnx_probabilities = load_runner(artifact_dir, manifest, "onnx").run(columns)
    joblib_labels, joblib_probabilities = load_runner(artifact_dir, manifest, "joblib").run(columns)
    assert onnx_labels.tolist() == joblib_labels.tolist()
    assert onnx_probabilities is not None
    assert joblib_probabilities is not None
    assert np.abs(onnx_probabilities - joblib_probabilities).max() <= 1e-6
