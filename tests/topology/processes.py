"""Real server processes on 127.0.0.1 for topology tests: start, wait until ready, stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

from mlvajra.cli import GUNICORN_ARGS
from mlvajra.stack.nginx import EdgeOptions, point_slots, render_local

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


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
    """gunicorn with `mlvajra.cli.GUNICORN_ARGS`, exactly as the container runs it."""

    def __init__(
        self,
        model_dir: Path,
        workdir: Path,
        workers: int = 2,
        port: int | None = None,
        env: dict[str, str] | None = None,
        unix_socket: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        # Where nginx reaches it, as a stack color: MLVAJRA_UNIX_SOCKET next to the TCP port.
        self.unix_socket = workdir / f"gunicorn-{self.port}.sock"
        self.environment = {
            **os.environ,
            "MLVAJRA_MODEL_DIR": str(model_dir),
            "PORT": str(self.port),
            "MLVAJRA_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{self.port}"),
            **({"MLVAJRA_UNIX_SOCKET": str(self.unix_socket)} if unix_socket else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Gunicorn:
        """Start the master (it forks the workers)."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), *GUNICORN_ARGS],
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


TEST_BODY_LIMIT = 8 << 20
"""nginx's body limit where a test does not set it (none at the default MLVAJRA_MODEL_DIR)."""


class Nginx:
    """nginx rendered from the repository's templates into `prefix`, in the foreground.

    Its upstream is the unix socket `active_socket` (the stack's symlink, or a color's socket).
    """

    def __init__(self, prefix: Path, active_socket: Path, **options: Any) -> None:
        self.prefix = prefix
        port = options.pop("port", None) or free_port()
        # The stack's own listener too: never its fixed default, other nginx may hold that.
        control_port = options.pop("control_port", None) or free_port()
        # The service's limit depends on the artifact's inputs; tests of the limit pass it.
        options.setdefault("body_limit", TEST_BODY_LIMIT)
        self.options = EdgeOptions(port=port, control_port=control_port, **options)
        self.url = f"http://127.0.0.1:{self.options.port}"
        # As root (here), workers as root too: the test's sockets sit in root's private tmp dirs.
        user = "root root" if os.geteuid() == 0 else None
        self.conf = render_local(prefix, self.options, active_socket, user)
        # Client traffic goes through the slot symlinks beside the socket: all name it.
        point_slots(active_socket.parent, active_socket.name)
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        """`nginx -p PREFIX -e stderr -c PREFIX/nginx.conf ARGS`."""
        return [NGINX, "-p", str(self.prefix), "-e", "stderr", "-c", str(self.conf), *args]

    def access_log(self) -> list[dict[str, Any]]:
        """Parsed JSON access log lines (buffered by nginx: complete after stop)."""
        path = self.prefix / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def __enter__(self) -> Nginx:
        subprocess.run(self.command("-t"), check=True, capture_output=True)
        with (self.prefix / "nginx.out").open("wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _listening(self.options.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.prefix / "nginx.out").read_text()
                raise RuntimeError(f"nginx did not start: {output}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LoadResult:
    """What wrk saw: responses, non-2xx, socket errors, and which model versions answered."""

    requests: int
    non_2xx: int
    socket_errors: dict[str, int]
    versions: dict[str, int]
    seconds: float

    @property
    def failures(self) -> int:
        """Every request that did not end in a 2xx."""
        return self.non_2xx + sum(self.socket_errors.values())


class Load:
    """wrk POSTing one record per request, bounded in count (per thread) and in time."""

    def __init__(
        self,
        url: str,
        body: dict[str, Any],
        requests: int,
        workdir: Path,
        connections: int = 16,
        threads: int = 2,
        seconds: int = 90,
        keepalive: bool = True,
    ) -> None:
        per_thread = -(-requests // threads)
        self.threads = threads
        self.markers = Path(tempfile.mkdtemp(prefix="wrk-", dir=workdir))
        self.command = [
            WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(Path(__file__).with_name("load.lua")), f"{url}/predict",
            "--", str(per_thread), json.dumps(body), str(self.markers),
        ]  # fmt: skip
        if not keepalive:
            self.command[1:1] = ["-H", "Connection: close"]
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Load:
        """Start wrk in the background."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def running(self) -> bool:
        """wrk has not finished yet."""
        return self.process is not None and self.process.poll() is None

    def result(self, timeout: float = 120) -> LoadResult:
        """Wait for wrk and parse the JSON line load.lua prints."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.running() and len(list(self.markers.iterdir())) < self.threads:
            assert time.monotonic() < deadline, "wrk neither finished nor reached its count"
            time.sleep(0.05)
        if self.running():
            self.process.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        stdout, stderr = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, stderr
        line = next(line for line in stdout.splitlines() if line.startswith("{"))
        raw = json.loads(line)
        return LoadResult(
            requests=raw["responses"],
            non_2xx=raw["non_2xx"],
            socket_errors=raw["errors"],
            versions=raw["versions"],
            seconds=raw["seconds"],
        )

    def stop(self) -> LoadResult:
        """Interrupt wrk now (it prints its summary on SIGINT) and parse what it saw."""
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGINT)
        return self.result()

    def run(self) -> LoadResult:
        """Start and wait."""
        return self.start().result()


def wait_until_busy(access_log: Path, load: Load, logged_bytes: int = 200_000) -> None:
    """Mid-load: nginx has logged a first batch of requests (it flushes its log each second)."""
    deadline = time.monotonic() + 30
    while (not access_log.exists() or access_log.stat().st_size < logged_bytes) and load.running():
        if time.monotonic() > deadline:
            raise TimeoutError("the load never started")
        time.sleep(0.1)


def live_workers(master: psutil.Process) -> set[int]:
    """The pids of `master`'s children that are alive (not zombies)."""
    alive = set()
    for child in master.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:  # reaped between the listing and the look
            continue
    return alive
