"""The service under real gunicorn: multi-worker metrics (bad artifacts: test_hardening.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

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
