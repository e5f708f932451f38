"""Drift counts under real gunicorn: summed over workers and flushed about once a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.topology.processes import Gunicorn

pytestmark = pytest.mark.topology

REQUESTS = 60


def _bin_total(text: str, feature: str) -> float:
    prefix = "mlvajra_input_bin_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and f'feature="{feature}"' in line
    )


def _post_spread(url: str) -> int:
    """One-record and 25-record requests on fresh connections (both workers answer)."""
    records = 0
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, limits=no_keepalive, timeout=10) as client:
        for i in range(REQUESTS):
            size = 25 if i % 10 == 0 else 1
            body = {"instances": [REFERENCE_ROWS[i % 3][0]] * size}
            assert client.post("/predict", json=body).status_code == 200
            records += size
    return records


def test_every_worker_counts_reach_metrics_and_drift(artifact_dir: Path, tmp_path: Path) -> None:
    with Gunicorn(artifact_dir, tmp_path, workers=2) as server:
        sent = _post_spread(server.url)
        deadline = time.monotonic() + 10
        seen = -1.0
        while time.monotonic() < deadline:  # flushed about once a second per worker
            seen = _bin_total(httpx.get(f"{server.url}/metrics").text, "island")
            if seen == sent:
                break
            time.sleep(0.2)
        drifts = [httpx.get(f"{server.url}/drift").json() for _ in range(4)]
    assert seen == sent
    assert {drift["features"]["sex"]["n"] for drift in drifts} == {sent}
