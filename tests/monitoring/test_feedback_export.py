"""`mlvajra feedback export`: labels with their records (given or logged) to a data kind."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlvajra.cli import cli
from mlvajra.config import Settings
from mlvajra.data.kinds import read_table
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS


def test_labels_are_exported_with_their_records(artifact_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = Settings(model_dir=artifact_dir, state_dir=state, prediction_log_sample=1.0)
    (first, first_label), (second, second_label), *_ = REFERENCE_ROWS
    with TestClient(create_app(settings)) as client:
        logged = client.post("/predict", json={"instances": [second]}).json()["predictions"][0]
        feedback = [
            {"instance": first, "label": first_label},
            {"id": logged["id"], "label": second_label},
            {"id": "never-logged:0", "label": "Adelie"},
        ]
        assert client.post("/feedback", json={"feedback": feedback}).status_code == 201
    output = tmp_path / "labels.parquet"
    result = CliRunner().invoke(
        cli, ["feedback", "export", "--state-dir", str(state), "--target", "species", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 labels" in result.output
    assert "1 without a known record" in result.output
    rows = read_table(output).to_pylist()
    assert [{name: row[name] for name in first} for row in rows] == [first, second]
    assert [row["species"] for row in rows] == [first_label, second_label]
    assert [row["prediction_id"] for row in rows] == [None, logged["id"]]
    assert (state / "penguins.feedback.sqlite").exists()  # nothing moved or deleted


def test_an_empty_state_dir_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["feedback", "export", "--state-dir", str(tmp_path), str(tmp_path / "out.csv")]
    )
    assert result.exit_code == 1
    assert "expected one <model>.feedback.sqlite (found none)" in result.output
