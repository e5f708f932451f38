"""`mlvajra stack up` as root runs no worker as root: nginx's and the colors' workers are
MLVAJRA_STACK_USER (`nobody`), reaching only the stack's runtime folder."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.fixtures import NOBODY, REFERENCE_ROWS
from tests.topology.processes import live_workers
from tests.topology.stacks import SYSTEM_PYTHON, Stack, unprivileged_cli

pytestmark = [
    pytest.mark.topology,
    pytest.mark.skipif(os.geteuid() != 0, reason="what a stack started as root does"),
]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack with the default MLVAJRA_STACK_USER, taken down whatever happens."""
    found = unprivileged_cli()
    if found is None:
        pytest.skip(f"nobody cannot read this Python, and {SYSTEM_PYTHON} is another version")
    cli, env = found
    # Root with root's supplementary group, as a login shell has it: no worker may keep it.
    running = Stack(tmp_path / "stack", ("setpriv", "--groups", "0", "--", *cli), env)
    yield running
    if (running.state_dir / "state.json").exists():
        running.run("down")


def _workers(master: int, expected: int) -> list[psutil.Process]:
    """`master`'s `expected` live workers, once every one of them has left root (5 s at most)."""
    deadline = time.monotonic() + 5
    while True:
        workers = [psutil.Process(pid) for pid in live_workers(psutil.Process(master))]
        settled = all(worker.uids().effective != 0 for worker in workers)
        if (len(workers) == expected and settled) or time.monotonic() > deadline:
            return workers
        time.sleep(0.1)


def _assert_unprivileged(workers: list[psutil.Process], expected: int) -> None:
    assert len(workers) == expected
    for worker in workers:
        assert set(worker.uids()) == {NOBODY.pw_uid}, worker.cmdline()
        assert set(worker.gids()) == {NOBODY.pw_gid}, worker.cmdline()
        groups = Path(f"/proc/{worker.pid}/status").read_text().split("Groups:")[1].split("\n")[0]
        assert "0" not in groups.split(), "no supplementary group of root's"


def _color_workers(stack: Stack, color: str, expected: int) -> list[psutil.Process]:
    return _workers(stack.state()["colors"][color]["pid"], expected)


def _nginx_workers(stack: Stack) -> list[psutil.Process]:
    return _workers(int((stack.state_dir / "nginx" / "nginx.pid").read_text()), 1)


def test_a_root_stack_serves_switches_and_labels_through_unprivileged_workers(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, one_record: dict[str, Any]
) -> None:
    """Through nginx: a body above nginx's 64 KiB memory buffer (a worker writes it to a temp
    file in the runtime folder), the workers' metrics, a feedback store in a folder only `nobody`
    may write to, and a blue/green switch; the state dir stays under pytest's private (0700)
    folders."""
    feedback = Path(tempfile.mkdtemp(prefix="mlvajra-feedback-"))
    os.chown(feedback, NOBODY.pw_uid, NOBODY.pw_gid)
    try:
        stack.up(artifact_dir, "--workers", "2", env={"MLVAJRA_STATE_DIR": str(feedback)})
        runtime = stack.socket_dir()
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o750
        assert runtime.stat().st_gid == NOBODY.pw_gid
        _assert_unprivileged(_color_workers(stack, "blue", 2), 2)
        _assert_unprivileged(_nginx_workers(stack), 1)

        many = {"instances": one_record["instances"] * 1000}
        answer = httpx.post(f"{stack.url}/predict", json=many, timeout=30)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 1000
        log = (stack.state_dir / "nginx" / "error.log").read_text()
        assert f"buffered to a temporary file {runtime}/nginx/client_body_temp/" in log
        labels = {"feedback": [{"instance": row, "label": label} for row, label in REFERENCE_ROWS]}
        stored = httpx.post(f"{stack.url}/feedback", json=labels, timeout=10)
        assert stored.status_code == 201, stored.text
        assert (feedback / "penguins.feedback.sqlite").stat().st_uid == NOBODY.pw_uid
        blue_port = stack.state()["colors"]["blue"]["port"]
        metrics = httpx.get(f"http://127.0.0.1:{blue_port}/metrics", timeout=10).text
        assert 'mlvajra_requests_total{endpoint="/predict",status="200"}' in metrics

        result = stack.run("switch", "--model-dir", str(artifact_v2_dir))
        assert result.returncode == 0, result.stdout + result.stderr
        assert stack.served_version() == "2"
        _assert_unprivileged(_color_workers(stack, "green", 2), 2)

        assert stack.run("down").returncode == 0
        assert not runtime.exists(), "down removes the runtime folder"
    finally:
        shutil.rmtree(feedback, ignore_errors=True)
