"""Respawned workers serve the bytes the master verified, whatever happened to the folder since."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mlvajra.artifact import ONNX_FILE
from tests.topology.faults import rewrite_manifest
from tests.topology.processes import Gunicorn, live_workers

pytestmark = pytest.mark.topology


def _replace(master: psutil.Process, victim: int, count: int) -> None:
    """SIGKILL `victim` and wait (bounded) until gunicorn has `count` other workers again."""
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while len(live_workers(master) - {victim}) < count:
        assert master.is_running(), "the master exited"
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)


def test_respawned_workers_keep_serving_the_verified_artifact(
    artifact_copy: Path, tmp_path: Path
) -> None:
    with Gunicorn(artifact_copy, tmp_path, workers=2) as server:
        assert server.process is not None
        master = psutil.Process(server.process.pid)
        original = live_workers(master)
        # In place, after start: a rewritten manifest and a corrupted graph.
        rewrite_manifest(artifact_copy, version="1-REWRITTEN")
        (artifact_copy / ONNX_FILE).write_bytes(b"corrupted")
        for victim in sorted(original):  # every worker is a respawn afterwards
            _replace(master, victim, 2)
        assert not live_workers(master) & original
        deadline = time.monotonic() + 30
        versions = []
        while len(versions) < 20:
            assert time.monotonic() < deadline, f"not ready again: {versions}"
            assert server.process.poll() is None, "the master exited"
            # A new connection each time, so both workers answer.
            try:
                response = httpx.get(f"{server.url}/version", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            versions.append((response.status_code, response.json().get("version")))
        assert set(versions) == {(200, "1")}
