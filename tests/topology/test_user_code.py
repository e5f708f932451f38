"""The proof matrix's user-code rows: joblib artifacts carrying the user's module in code/,
served by real gunicorn (which cannot import that module otherwise) equal to the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from typer.testing import CliRunner

from mlvajra.cli import cli
from tests.topology.processes import Gunicorn
from tests.training.user_code import import_user_module
from tests.training.user_pipelines import NUMBER_INPUTS, numbers, write_artifact

pytestmark = pytest.mark.topology


def _pipelines(module: Any) -> dict[str, Any]:
    return {
        "function": make_pipeline(
            FunctionTransformer(module.shifted_squares), LogisticRegression()
        ),
        "class": make_pipeline(module.CentredRatio(), LogisticRegression()),
    }


@pytest.mark.parametrize("kind", ["function", "class"])
def test_user_code_serves_equal_to_the_pipeline(kind: str, tmp_path: Path) -> None:
    module = import_user_module(tmp_path / "project", f"served_{kind}_features")
    frame = numbers(120)
    pipeline = _pipelines(module)[kind].fit(frame[["a", "b"]], frame["y"])
    held_out = numbers(30, seed=5)[["a", "b"]]
    folder = write_artifact(pipeline, held_out, NUMBER_INPUTS, "classification", tmp_path / kind)
    verified = CliRunner().invoke(cli, ["verify", str(folder)])
    assert verified.exit_code == 0, verified.output
    assert "joblib loads here" in verified.output
    with Gunicorn(folder, tmp_path, workers=1) as server:
        body = {"instances": held_out.to_dict("records")}
        answer = httpx.post(f"{server.url}/predict", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    classes = pipeline.classes_.tolist()
    served = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
    np.testing.assert_array_equal(served, pipeline.predict_proba(held_out))
    assert [p["label"] for p in predictions] == pipeline.predict(held_out).tolist()


def test_an_altered_code_file_stops_the_master_in_one_line(tmp_path: Path) -> None:
    module = import_user_module(tmp_path / "project", "altered_features")
    frame = numbers(60)
    pipeline = _pipelines(module)["function"].fit(frame[["a", "b"]], frame["y"])
    folder = write_artifact(
        pipeline, frame[["a", "b"]], NUMBER_INPUTS, "classification", tmp_path / "m"
    )
    code = folder / "code" / "altered_features.py"
    code.write_text(code.read_text() + "\nraise SystemExit('planted')\n")
    server = Gunicorn(folder, tmp_path, workers=1).start()
    assert server.process is not None
    try:
        assert server.process.wait(60) != 0
    finally:
        server.stop()
    refusals = [line for line in server.log().splitlines() if "refusing to start" in line]
    assert len(refusals) == 1
    assert "sha256 mismatch" in refusals[0]
    assert "code/altered_features.py" in refusals[0]
    assert "Worker failed to boot" not in server.log()
