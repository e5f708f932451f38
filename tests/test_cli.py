"""`mlvajra train` and `mlvajra verify` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import mlvajra
from mlvajra.artifact import JOBLIB_FILE, MANIFEST_NAME
from mlvajra.cli import cli

runner = CliRunner()


def test_verify_passes_on_a_fresh_artifact(artifact_dir: Path) -> None:
    result = runner.invoke(cli, ["verify", str(artifact_dir)])
    assert result.exit_code == 0, result.output
    assert "hashes ok" in result.output
    assert "parity ok on 370 rows" in result.output


def test_verify_fails_on_a_tampered_file(artifact_copy: Path) -> None:
    with (artifact_copy / JOBLIB_FILE).open("ab") as handle:
        handle.write(b"tampered")
    result = runner.invoke(cli, ["verify", str(artifact_copy)])
    assert result.exit_code == 1
    assert "sha256 mismatch" in result.output


def test_verify_fails_when_parity_is_out_of_tolerance(artifact_copy: Path) -> None:
    path = artifact_copy / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["parity"]["tolerance"] = 1e-12
    path.write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["verify", str(artifact_copy)])
    assert result.exit_code == 1
    assert "disagrees" in result.output


def test_train_a_csv_with_flags(tmp_path: Path) -> None:
    data = tmp_path / "houses.csv"
    rows = 150
    pd.DataFrame(
        {
            "id": range(rows),
            "rooms": [1 + i % 5 for i in range(rows)],
            "zone": [("a", "b", "c")[i % 3] for i in range(rows)],
            "expensive": [int(1 + i % 5 >= 3) for i in range(rows)],
        }
    ).to_csv(data, index=False)
    args = ["train", "--data", str(data), "--target", "expensive", "--drop", "id"]
    result = runner.invoke(cli, [*args, "--models-root", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "houses" / "1" / MANIFEST_NAME).read_text())
    assert [spec["name"] for spec in manifest["inputs"]] == ["rooms", "zone"]
    assert manifest["task"] == "classification"
    assert manifest["classes"] == [0, 1]


def test_train_errors_are_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(data, index=False)
    result = runner.invoke(cli, ["train", "--data", str(data), "--models-root", str(tmp_path)])
    assert result.exit_code == 1
    assert "--target is required" in result.output
    result = runner.invoke(cli, ["train", "--data", str(tmp_path / "nope.csv"), "--target", "a"])
    assert result.exit_code == 1
    assert "no such data file" in result.output


def test_version_flag_prints_the_installed_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"mlvajra {mlvajra.__version__}"
    assert mlvajra.__version__ != "0+unknown", "the package is installed, so it has a version"


def test_every_refusal_is_one_line_on_stderr(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["predict", "--model-dir", str(tmp_path), "a.csv", "b.csv"])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot read ")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
