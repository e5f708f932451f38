"""The local stack: each color a gunicorn master on 127.0.0.1, nginx a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlvajra.config import StackSettings, load_settings
from mlvajra.errors import StackError
from mlvajra.stack.nginx import (
    ACTIVE_SOCKET,
    EdgeOptions,
    color_socket,
    point_slots,
    point_symlink,
    render_local,
)
from mlvajra.stack.platform import (
    DRAIN_SECONDS,
    EDGE_STOP_SECONDS,
    STOP_GRACE_SECONDS,
    ColorState,
    Release,
    edge_request,
    executable,
    free_port,
    process_alive,
)
from mlvajra.stack.runtime import Runtime


class LocalBackend:
    """Colors are gunicorn masters on 127.0.0.1 ports and unix sockets in `<state>/run`; nginx
    runs with `<state>/nginx` as its prefix. With a `runtime` (started as root) the sockets,
    metrics and nginx's temp files live in its folder, and every worker runs as its user."""

    def __init__(
        self,
        state_dir: Path,
        options: EdgeOptions,
        workers: int | None,
        runtime: Runtime | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.prefix = state_dir / "nginx"
        self.socket_dir = runtime.path if runtime else state_dir / "run"
        self.options = options
        self.workers = workers
        self.runtime = runtime
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _nginx_command(self, *args: str) -> list[str]:
        nginx = executable(StackSettings().nginx, "MLVAJRA_NGINX")
        return [nginx, "-p", str(self.prefix), "-e", "stderr", "-c", str(self.conf), *args]

    @property
    def conf(self) -> Path:
        """The rendered main nginx.conf."""
        return self.prefix / "nginx.conf"

    def start_color(self, color: str, release: Release) -> ColorState:
        """Start `mlvajra serve` (gunicorn as in the container) on a fresh port and a socket."""
        port = free_port()
        metrics_dir = self.state_dir / f"metrics-{color}"
        if self.runtime is not None:
            feedback_dir = load_settings().state_dir
            if feedback_dir is not None:
                self.runtime.check_writable(feedback_dir, "MLVAJRA_STATE_DIR")
            metrics_dir = self.runtime.owned_dir(f"metrics-{color}")
        metrics_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        unix_socket = color_socket(self.socket_dir, color)
        log = self.state_dir / f"{color}-{port}.log"
        environment = {
            "MLVAJRA_DRAIN_SECONDS": str(DRAIN_SECONDS),
            **{name: value for name, value in os.environ.items() if name != "MLVAJRA_BIND"},
            "MLVAJRA_MODEL_DIR": release.model_dir,
            "MLVAJRA_MODEL_FORMAT": release.model_format,
            "MLVAJRA_MANIFEST_SHA256": release.manifest_sha256,
            "MLVAJRA_UNIX_SOCKET": str(unix_socket),
            "MLVAJRA_HOST": "127.0.0.1",
            "MLVAJRA_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        if self.workers is not None:
            environment["MLVAJRA_WORKERS"] = str(self.workers)
        if self.runtime is not None:
            environment["MLVAJRA_WORKER_USER"] = self.runtime.user
        with log.open("wb") as log_file:
            # A session of its own: the color outlives this command and ignores its terminal.
            process = subprocess.Popen(
                [sys.executable, "-m", "mlvajra", "serve"],
                cwd=self.state_dir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[process.pid] = process
        return ColorState.of(color, release, port, pid=process.pid, log=str(log))

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Straight to the color's port."""
        return edge_request(state.port, method, path, body)

    def _alive(self, pid: int, marker: str) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        # Not our child: check the pid still belongs to the same program before trusting it.
        return process_alive(pid, marker)

    def color_running(self, state: ColorState) -> bool:
        """The gunicorn master is alive."""
        return state.pid is not None and self._alive(state.pid, "gunicorn")

    def stop_color(self, state: ColorState) -> str:
        """SIGTERM the master (graceful), wait, SIGKILL only past the stop grace period."""
        if state.pid is None or not self.color_running(state):
            return "was not running"
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.color_running(state) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.color_running(state):
            os.kill(state.pid, signal.SIGKILL)
            return f"killed: still running {STOP_GRACE_SECONDS:.0f} s after SIGTERM"
        child = self._children.pop(state.pid, None)
        code = child.wait() if child is not None else None
        if code not in (None, 0):
            return f"exited with code {code}"
        log_lines = Path(state.log).read_text(errors="replace").splitlines() if state.log else []
        if not any("Shutting down: Master" in line for line in log_lines):
            return "exited without gunicorn's shutdown message"
        if any('"Reason: ' in line for line in log_lines):
            return "exited with an error reason in its log"
        return "exited cleanly"

    def point_edge_at(self, state: ColorState) -> None:
        """Every `<state>/run/slotNN.sock`, then `active.sock` -> `<color>.sock` (relative: the
        folder may move)."""
        point_slots(self.socket_dir, f"{state.color}.sock")
        point_symlink(self.socket_dir / ACTIVE_SOCKET, f"{state.color}.sock")

    def split_edge(self, stable: ColorState, canary: ColorState, canary_slots: int) -> None:
        """The first `canary_slots` slots -> the canary's socket, the rest -> the stable one's."""
        stable_socket, canary_socket = f"{stable.color}.sock", f"{canary.color}.sock"
        point_slots(self.socket_dir, stable_socket, canary_socket, canary_slots)
        point_symlink(self.socket_dir / ACTIVE_SOCKET, stable_socket)

    def test_config(self) -> None:
        """`nginx -t` on the rendered files."""
        result = subprocess.run(
            self._nginx_command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            lines = [
                line for line in result.stderr.splitlines() if "emerg" in line or "failed" in line
            ]
            raise StackError(f"nginx -t failed: {(lines or [result.stderr.strip()])[0]}")

    def _master_pid(self) -> int | None:
        try:
            pid = int((self.prefix / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid, "nginx") else None

    def start_edge(self, first: ColorState) -> None:
        """Render into the prefix, check, start `nginx` (daemon off) in its own session."""
        if self._master_pid() is not None:
            raise StackError(f"nginx already runs for {self.prefix}")
        user, temp_dir = None, None
        if self.runtime is not None:
            user = f"{self.runtime.user} {self.runtime.group}"
            temp_dir = self.runtime.owned_dir("nginx")
        render_local(self.prefix, self.options, self.socket_dir / ACTIVE_SOCKET, user, temp_dir)
        self.point_edge_at(first)
        self.test_config()
        with (self.prefix / "nginx.out").open("wb") as log_file:
            process = subprocess.Popen(
                self._nginx_command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[process.pid] = process
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = (self.prefix / "nginx.out").read_text(errors="replace").strip()
                raise StackError(f"nginx exited at start: {output.splitlines()[-1:]}")
            if self._master_pid() == process.pid and self.edge_request("GET", "/health")[0]:
                return
            time.sleep(0.05)
        raise StackError("nginx did not answer within 10 s")

    def stop_edge(self) -> None:
        """SIGQUIT: graceful shutdown of the master and its workers."""
        master = self._master_pid()
        if master is None:
            return
        os.kill(master, signal.SIGQUIT)
        deadline = time.monotonic() + EDGE_STOP_SECONDS
        while self._alive(master, "nginx") and time.monotonic() < deadline:
            time.sleep(0.05)

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Through nginx on 127.0.0.1."""
        return edge_request(self.options.port, method, path, body)

    def control_request(self, path: str) -> tuple[int, bytes]:
        """nginx's stack-only listener on 127.0.0.1."""
        return edge_request(self.options.control_port, "GET", path, None)
