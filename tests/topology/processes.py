"""Real server processes on 127.0.0.1 for topology tests: start, wait until ready, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 30.0, process: subprocess.Popen[Any] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py app.main:app`, exactly as the container runs it."""

    def __init__(
        self,
        model_dir: Path,
        workdir: Path,
        workers: int = 2,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.environment = {
            **os.environ,
            "MLVAJRA_MODEL_DIR": str(model_dir),
            "PORT": str(self.port),
            "MLVAJRA_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{self.port}"),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Gunicorn:
        """Start the master (it forks the workers)."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "app.main:app"],
            cwd=ROOT,
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 30.0) -> Gunicorn:
        """Block until /ready answers 200."""
        wait_for(f"{self.url}/ready", timeout, self.process)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful) and wait; SIGKILL if it hangs. Returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
        return self.process.returncode

    def log(self) -> str:
        """Everything the master and workers wrote."""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Gunicorn:
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
