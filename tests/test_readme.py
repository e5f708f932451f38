"""The README's runnable shell examples run as written, in order, against real processes.

Every ```sh block directly after a `<!-- runnable -->` line of README.md runs with bash
(`set -euo pipefail`), each block in a bash of its own, in one fresh working directory under /tmp
that looks like a checkout after `make run`: `.venv` (a symlink to this virtualenv), copies of
`app/`, `pyproject.toml` and `README.md`, and `models/penguins/1` trained as `make run` trains it.
This virtualenv's bin comes first on PATH, and no `MLVAJRA_*`, `HOST` or `PORT` variable leaks in
from outside. A real `mlvajra serve` of that model runs in the background on a free port, as
`make run` would in the reader's other terminal.

The one change made to a block's text: `localhost:8000` and `127.0.0.1:8000` (where `make run`
serves) point at that free port instead. Everything else runs as written, the local stack
included: its nginx listens on `EDGE_PORT`, which the block reads from the environment (8080 when
unset, as for a reader) and this test sets to a second free port, and its state goes to the
default state dir, whose path inside the short working directory keeps unix socket paths far below
Linux's 108 bytes. Any other port a block names literally must be free, or the test stops first.
`mlvajra stack down` runs at the end whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import root_workers_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MARKER = "<!-- runnable -->"
FENCE_LANGUAGES = {"sh", "python", "text"}
BLOCK_SECONDS = 120
"""Longest one block may run; the slowest (three trainings and a verify) takes about 25 s."""
READY_SECONDS = 60
SERVICE_ADDRESS = re.compile(r"\b(localhost|127\.0\.0\.1):8000\b")
"""Where the README says `make run` serves; the only text the test rewrites."""
LITERAL_PORTS = re.compile(r"(?:--port |\blocalhost:|\b127\.0\.0\.1:)(\d+)\b")


@dataclass(frozen=True)
class Block:
    """One runnable shell block: its text and the README line of its first command."""

    line: int
    text: str


def runnable_blocks(markdown: str) -> list[Block]:
    """Every ```sh block right after a runnable marker, in README order."""
    lines = markdown.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        opening = lines[index + 1] if index + 1 < len(lines) else ""
        assert opening == "```sh", f"README.md:{index + 1}: {MARKER} must sit right above ```sh"
        closing = lines.index("```", index + 2)
        blocks.append(Block(index + 3, "\n".join(lines[index + 2 : closing]) + "\n"))
    return blocks


def test_every_fence_names_its_language() -> None:
    """Shell examples are ```sh whether they run here or not; diagrams are ```text."""
    opened: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(README.read_text().splitlines(), start=1):
        if line.startswith("```"):
            if not inside:
                opened.append((number, line[3:].strip()))
            inside = not inside
    assert not inside, "README.md ends inside a code block"
    assert [(n, lang) for n, lang in opened if lang not in FENCE_LANGUAGES] == []


def test_runnable_markers_sit_on_shell_blocks() -> None:
    blocks = runnable_blocks(README.read_text())
    assert len(blocks) >= 5
    assert any(SERVICE_ADDRESS.search(block.text) for block in blocks)


def _free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports nobody listens on right now (all bound at once to pick them)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def _require_free(ports: set[int]) -> None:
    for port in sorted(ports):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(f"port {port}, which README.md's runnable examples use, is busy")


def _environment(edge_port: int) -> dict[str, str]:
    """The caller's environment without settings of ours, this virtualenv first on PATH."""
    leaks = {"HOST", "PORT", "PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MLVAJRA_") and name not in leaks
    }
    environment["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    environment["EDGE_PORT"] = str(edge_port)
    return {**environment, **root_workers_env()}


@contextlib.contextmanager
def _checkout() -> Iterator[Path]:
    """A short folder under /tmp laid out like the checkout, removed afterwards."""
    assert (Path(sys.prefix) / "bin" / "activate").is_file(), "run the tests from make's .venv"
    work = Path(tempfile.mkdtemp(prefix="mlvajra-readme-", dir="/tmp"))
    try:
        ignore = shutil.ignore_patterns("*.egg-info", "__pycache__")
        shutil.copytree(ROOT / "app", work / "app", ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, work / name)
        (work / ".venv").symlink_to(sys.prefix)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(command: list[str], work: Path, environment: dict[str, str], what: str) -> None:
    """Run to the end within BLOCK_SECONDS, in a process group of its own, or fail with output."""
    process = subprocess.Popen(
        command,
        cwd=work,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(
            f"{what}: still running after {BLOCK_SECONDS} s\n{stdout[-2000:]}{stderr[-2000:]}"
        )
    assert process.returncode == 0, (
        f"{what}: exit {process.returncode}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n"
        f"{stderr[-3000:]}"
    )


@contextlib.contextmanager
def _serving(work: Path, environment: dict[str, str], port: int) -> Iterator[None]:
    """`mlvajra serve` of models/penguins/1 on `port` until the block exits; SIGTERM at the end."""
    log_path = work / "serve.log"
    metrics = work / "serve-metrics"
    command = ["serve", "--model-dir", "models/penguins/1", "--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "mlvajra"), *command],
            cwd=work,
            env={**environment, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlvajra serve did not get ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def _stack_stopped_afterwards(work: Path, environment: dict[str, str]) -> Iterator[None]:
    """Whatever the blocks did, `mlvajra stack down` stops the stack they left running."""
    try:
        yield
    finally:
        if (work / ".mlvajra" / "stack" / "state.json").exists():
            subprocess.run(
                [str(BIN / "mlvajra"), "stack", "down"],
                cwd=work,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=120,
                check=False,
            )


@pytest.mark.topology
def test_runnable_blocks_run_as_written() -> None:
    blocks = runnable_blocks(README.read_text())
    _require_free(
        {int(port) for b in blocks for port in LITERAL_PORTS.findall(b.text) if port != "8000"}
    )
    bash = shutil.which("bash") or "/bin/bash"
    with _checkout() as work:
        port, edge_port = _free_ports(2)
        environment = _environment(edge_port)
        # What `make run` does before it serves (Makefile, target $(MODEL_DIR)/manifest.json).
        train = [str(BIN / "mlvajra"), "train", "--models-root", "models", "--version", "1"]
        _run(train, work, environment, "make run's training")
        with _serving(work, environment, port), _stack_stopped_afterwards(work, environment):
            for block in blocks:
                script = SERVICE_ADDRESS.sub(rf"\1:{port}", block.text)
                _run(
                    [bash, "-c", "set -euo pipefail\n" + script],
                    work,
                    environment,
                    f"README.md:{block.line}",
                )
        # curl exits 0 on any HTTP status: the service's access log shows a path or method the
        # README names wrongly (written out once the server has stopped).
        requests = _access_log(work / "serve.log")
        assert any(request["path"] == "/predict" for request in requests)
        wrong = [(r["method"], r["status"]) for r in requests if r["status"] in (404, 405)]
        assert wrong == [], "README requests the service has no route for"


def _access_log(log: Path) -> list[dict[str, Any]]:
    """The service's JSON access-log records (one per request)."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [record for record in records if record.get("message") == "request"]
