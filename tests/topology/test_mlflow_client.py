"""MLflow's scoring client and plain CSV, unchanged, against a real gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.topology.processes import ROOT, Gunicorn

pytestmark = pytest.mark.topology
ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]


@pytest.fixture(scope="module")
def server(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn (one worker) for every call in this module."""
    with Gunicorn(artifact_dir, tmp_path_factory.mktemp("mlflow"), workers=1) as gunicorn:
        yield gunicorn


def test_mlflow_scoring_server_client(server: Gunicorn) -> None:
    """MLflow's own client: DataFrames as dataframe_split, missing values as bare NaN."""
    script = Path(__file__).with_name("mlflow_client.py")
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, str(script), str(server.port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen["reference"] == LABELS
    assert seen["missing"] == ["Adelie"]
    assert "BAD_REQUEST" in seen["bad"], seen["bad"]
    assert "year" in seen["bad"], seen["bad"]


def test_mlflow_csv_and_ping(server: Gunicorn) -> None:
    header = ",".join(ROWS[0])
    lines = [",".join(str(value) for value in row.values()) for row in ROWS]
    for content_type in ("text/csv", "application/csv"):
        response = httpx.post(
            f"{server.url}/invocations",
            content="\n".join([header, *lines]),
            headers={"content-type": content_type},
        )
        assert response.json() == {"predictions": LABELS}
    assert httpx.get(f"{server.url}/ping").status_code == 200
