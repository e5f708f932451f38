"""Any pipeline without user code: packaged, verified, served by real gunicorn, answering what
the pipeline itself predicts on held-out rows. The format each ends in is not asserted: the
answers are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlvajra
from mlvajra.cli import cli
from mlvajra.training.packaging import Packaged
from tests.topology.processes import Gunicorn
from tests.training.matrix import CASES, Case, expected_predictions

runner = CliRunner()
FLOAT32_PRECISION = 2e-7


@dataclass(frozen=True)
class Served:
    """One matrix case packaged and behind its own gunicorn."""

    fitted: Any
    holdout: pd.DataFrame
    packaged: Packaged
    server: Gunicorn


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """Every available case packaged, then all servers started at once (boots overlap)."""
    root = tmp_path_factory.mktemp("matrix")
    packaged = {}
    for case in CASES:
        if case.available():
            fitted, holdout, labels = case.fitted()
            result = mlvajra.package(
                fitted, holdout, labels, name=case.name, models_root=root / "models"
            )
            packaged[case.name] = (fitted, holdout, result)
    servers = {
        name: Gunicorn(result.folder, root, workers=1).start()
        for name, (_, _, result) in packaged.items()
    }
    try:
        for server in servers.values():
            server.wait_ready(timeout=240)
        yield {
            name: Served(fitted, holdout, result, servers[name])
            for name, (fitted, holdout, result) in packaged.items()
        }
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_served_pipeline_answers_what_it_predicts(
    case: Case, served: dict[str, Served]
) -> None:
    if not case.available():
        pytest.skip(f"{case.needs} is not importable here")
    item = served[case.name]
    verified = runner.invoke(cli, ["verify", str(item.packaged.folder)])
    assert verified.exit_code == 0, verified.output
    records = item.holdout.to_dict(orient="records")
    response = httpx.post(f"{item.server.url}/predict", json={"instances": records}, timeout=30)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    expected = expected_predictions(item.fitted, item.holdout, case.task)
    manifest = item.packaged.manifest
    # The ONNX graph is held to the parity it passed on these very rows; joblib is the pipeline
    # itself, up to float32 outputs (XGBoost's) that JSON carries at float32 precision.
    tolerance = manifest.parity.tolerance if manifest.format == "onnx" and manifest.parity else 0
    tolerance = max(tolerance, FLOAT32_PRECISION)
    assert len(answers) == len(expected) == len(records)
    for row, (answer, want) in enumerate(zip(answers, expected, strict=True)):
        if case.task == "regression":
            scale = max(1.0, abs(want["value"]))
            assert abs(answer["value"] - want["value"]) <= tolerance * scale, row
            continue
        assert answer["label"] == want["label"], row
        assert answer["probabilities"].keys() == want["probabilities"].keys(), row
        for label, probability in want["probabilities"].items():
            assert abs(answer["probabilities"][label] - probability) <= tolerance, row
