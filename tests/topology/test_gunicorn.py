"""The service under real gunicorn: multi-worker metrics, refusal of a bad artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from app.artifact import ONNX_FILE
from tests.conftest import REFERENCE_ROWS
from tests.topology.processes import Gunicorn

pytestmark = pytest.mark.topology

PREDICTIONS = 200


def _counter(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_are_exact_across_two_workers(artifact_dir: Path, tmp_path: Path) -> None:
    sample = 'mlvajra_requests_total{endpoint="/predict",status="200"}'
    body = {"instances": [REFERENCE_ROWS[0][0]]}
    with Gunicorn(artifact_dir, tmp_path, workers=2) as server:
        # A fresh connection per request lets the kernel spread them over both workers.
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, limits=no_keepalive, timeout=10) as client:
            before = _counter(client.get("/metrics").text, sample)
            for _ in range(PREDICTIONS):
                assert client.post("/predict", json=body).status_code == 200
            scrapes = [_counter(client.get("/metrics").text, sample) for _ in range(10)]
        log_lines = [line for line in server.log().splitlines() if line.startswith("{")]
    served_by = {
        entry["pid"] for entry in map(json.loads, log_lines) if entry.get("path") == "/predict"
    }
    assert len(served_by) == 2, "both workers must have answered predictions"
    # Every scrape, whichever worker answers it, sees the sum over both workers.
    assert scrapes == [before + PREDICTIONS] * 10


def test_tampered_artifact_refuses_to_start_in_one_line(
    artifact_copy: Path, tmp_path: Path
) -> None:
    with (artifact_copy / ONNX_FILE).open("r+b") as handle:
        handle.write(b"X")
    server = Gunicorn(artifact_copy, tmp_path, workers=1).start()
    assert server.process is not None
    code = server.process.wait(30)
    server.stop()
    assert code != 0
    reasons = [line for line in server.log().splitlines() if "refusing to start" in line]
    assert len(reasons) == 1
    assert re.search(r"sha256 mismatch for .*model\.onnx", reasons[0])
    assert "Booting worker" not in server.log()
