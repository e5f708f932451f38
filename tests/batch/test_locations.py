"""`mlvajra predict` refuses locations that would overwrite each other, before scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlvajra.cli import cli

runner = CliRunner()


@pytest.mark.parametrize("target", ["input", "output"])
def test_rejects_equal_to_input_or_output_is_refused(
    target: str, artifact_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("island\nDream\n")
    output = tmp_path / "out.csv"
    output.write_text("earlier predictions\n")
    # Spelled differently from the argument it equals: compared as resolved paths.
    rejects = f"{tmp_path}/./{'in' if target == 'input' else 'out'}.csv"
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(output)]
    result = runner.invoke(cli, [*args, "--rejects", rejects])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --rejects must differ from INPUT and OUTPUT"
    assert source.read_text() == "island\nDream\n"
    assert output.read_text() == "earlier predictions\n"
