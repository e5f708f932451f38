"""`mlvajra stack` as an operator runs it, in a test's temp dir, for the topology tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures import root_workers_env
from tests.topology.processes import BIN, ROOT, Load, LoadResult, free_port, wait_until_busy

REQUESTS = 20_000
CONNECTIONS = 16


CLI = (str(BIN / "mlvajra"),)
SYSTEM_PYTHON = "/usr/bin/python3"


def unprivileged_cli() -> tuple[tuple[str, ...], dict[str, str]] | None:
    """The CLI and environment for a stack whose workers run as `nobody`: the installed CLI, or,
    where `nobody` cannot read this Python, the system's Python of the same version on this
    virtualenv's packages; None if there is no such Python."""
    if not root_workers_env():
        return CLI, {}
    version = "import sys; print(sys.version_info[:2])"
    found = subprocess.run(
        [SYSTEM_PYTHON, "-c", version], capture_output=True, text=True, check=False
    )
    if found.stdout.strip() != str(sys.version_info[:2]):
        return None
    packages = sysconfig.get_paths()["purelib"]
    return (SYSTEM_PYTHON, "-m", "mlvajra"), {"PYTHONPATH": f"{ROOT / 'app'}:{packages}"}


def mlvajra(
    *args: str,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cli: Sequence[str] = CLI,
) -> subprocess.CompletedProcess[str]:
    """The installed CLI, as an operator runs it (with extra environment variables)."""
    return subprocess.run(
        [*cli, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Stack:
    """A stack in a test's temp dir; `down` runs whatever happens."""

    def __init__(
        self,
        state_dir: Path,
        cli: Sequence[str] = CLI,
        env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.cli = cli
        self.env = root_workers_env() if env is None else env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`mlvajra stack ARGS --state-dir STATE_DIR`."""
        command = ("stack", *args, "--state-dir", str(self.state_dir))
        return mlvajra(*command, env={**self.env, **(env or {})}, cli=self.cli)

    def up(self, model_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        """Start nginx and blue; fail the test with the CLI's output if it cannot."""
        command = ["up", "--model-dir", str(model_dir), "--port", str(self.port), *extra]
        result = self.run(*command, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert self.url in result.stdout

    def state(self) -> dict[str, Any]:
        """state.json as the CLI left it."""
        state: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
        return state

    def socket_dir(self) -> Path:
        """Where the colors' sockets and nginx's slot symlinks are: the runtime folder as root."""
        runtime = self.state().get("runtime")
        return Path(runtime["directory"]) if runtime else self.state_dir / "run"

    def served_version(self) -> str:
        """What nginx answers on a fresh connection."""
        version: str = httpx.get(f"{self.url}/version", timeout=10).json()["version"]
        return version


def switch_under_load(
    stack: Stack,
    body: dict[str, Any],
    command: list[str],
    keepalive: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[LoadResult, subprocess.CompletedProcess[str], float]:
    """Start wrk, switch once it is busy, return what wrk saw, the CLI result and its duration."""
    workdir = stack.state_dir.parent
    load = Load(stack.url, body, REQUESTS, workdir, CONNECTIONS, keepalive=keepalive).start()
    wait_until_busy(stack.state_dir / "nginx" / "access.log", load)
    started = time.monotonic()
    result = stack.run(*command, env=env)
    took = time.monotonic() - started
    still_loading = load.running()
    figures = load.result()
    assert still_loading, "the load ended before the switch did: the test proves nothing"
    return figures, result, took
