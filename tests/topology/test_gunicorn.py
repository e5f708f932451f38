"""The service under real gunicorn: multi-worker metrics (bad artifacts: test_hardening.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
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
    # reuse_port: each worker binds its own socket, and the master's log says where.
    assert f"workers listen at: 127.0.0.1:{server.port}" in server.log()
    served_by = {
        entry["pid"] for entry in map(json.loads, log_lines) if entry.get("path") == "/predict"
    }
    assert len(served_by) == 2, "both workers must have answered predictions"
    # Every scrape, whichever worker answers it, sees the sum over both workers.
    assert scrapes == [before + PREDICTIONS] * 10


def test_mlvajra_serve_runs_gunicorn_with_the_project_config(
    artifact_dir: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess

    from tests.topology.processes import BIN, free_port, wait_for

    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    command = [str(BIN / "mlvajra"), "serve", "--model-dir", str(artifact_dir)]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1", "--metrics-port", str(metrics_port)],
            cwd=tmp_path,  # not the checkout: the config is found beside the package
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", 30, process)
        version = httpx.get(f"http://127.0.0.1:{port}/version").json()
        assert (version["name"], version["version"]) == ("penguins", "1")
        ops = f"http://127.0.0.1:{metrics_port}"
        assert httpx.get(f"{ops}/ready").status_code == 200
        assert httpx.get(f"{ops}/version").status_code == 404, "the metrics port: ops only"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert "mlvajra.serving.worker.Worker" in (tmp_path / "serve.log").read_text()


def _write_calls(pid: int) -> int:
    """write(2)-family system calls process `pid` has made (`syscw` in /proc/PID/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/io has no syscw")


def test_a_response_leaves_in_one_write(artifact_dir: Path, tmp_path: Path) -> None:
    """uvicorn writes headers and body apart; the worker's protocol joins them (one system
    call, and one wake-up of the reader, per response)."""
    import psutil

    body = {"instances": [REFERENCE_ROWS[0][0]]}
    with Gunicorn(artifact_dir, tmp_path, workers=1) as server:
        (worker,) = psutil.Process(server.process.pid).children()
        with httpx.Client(base_url=server.url, timeout=10) as client:  # one kept-alive connection
            assert client.post("/predict", json=body).status_code == 200
            before = _write_calls(worker.pid)
            for _ in range(PREDICTIONS):
                assert client.post("/predict", json=body).status_code == 200
            written = _write_calls(worker.pid) - before
    # The access log adds a write per 4 KB of lines (about 20 requests); two writes per response
    # would be 2 x PREDICTIONS.
    assert PREDICTIONS <= written <= PREDICTIONS * 1.2, written
