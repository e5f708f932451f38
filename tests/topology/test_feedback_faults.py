"""Labels under real gunicorn: a worker SIGKILLed while clients post loses no label answered 201."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.topology.processes import Gunicorn, live_workers

pytestmark = pytest.mark.topology

CLIENTS, POSTS = 4, 20


def test_every_label_answered_201_survives_a_killed_worker(
    artifact_dir: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    accepted: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 60

    def post(client_number: int) -> None:
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=no_keepalive, timeout=10) as client:
            for i in range(POSTS):
                if time.monotonic() > deadline:
                    return
                identifier = f"req-{client_number}-{i}/0"
                body = {"feedback": [{"id": identifier, "label": "Adelie"}]}
                try:
                    answer = client.post(f"{server.url}/feedback", json=body)
                except httpx.TransportError:
                    continue  # the killed worker's connection: not answered, not promised
                if answer.status_code == 201:
                    with lock:
                        accepted.append(identifier)

    env = {"MLVAJRA_STATE_DIR": str(state_dir)}
    with Gunicorn(artifact_dir, tmp_path, workers=2, env=env) as server:
        assert server.process is not None
        master = psutil.Process(server.process.pid)
        threads = [threading.Thread(target=post, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while len(accepted) < POSTS and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = min(live_workers(master))
        os.kill(victim, signal.SIGKILL)  # mid-stream: other clients are posting right now
        for thread in threads:
            thread.join(70)
    assert len(accepted) >= POSTS
    with sqlite3.connect(state_dir / "penguins.feedback.sqlite") as connection:
        stored = {row[0] for row in connection.execute("SELECT prediction_id FROM labels")}
    assert set(accepted) <= stored
