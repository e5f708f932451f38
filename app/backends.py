"""Where the colors and nginx run: local processes on 127.0.0.1, or docker compose services."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from app.edge import ACTIVE_SOCKET, EdgeOptions, color_socket, point_symlink, render_local

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SOCKET_DIR = "/run/mlvajra"
"""The volume the colors and nginx share in docker-compose.yml: color sockets and the symlink."""
STOP_GRACE_SECONDS = 30.0
"""How long a color gets after SIGTERM; above gunicorn's graceful_timeout (20 s)."""
EDGE_STOP_SECONDS = 20.0
"""How long nginx may take to stop; above its worker_shutdown_timeout (15 s)."""
DRAIN_SECONDS = "1"
"""MLVAJRA_DRAIN_SECONDS for the colors unless set: after SIGTERM a color keeps serving this long,
answering `Connection: close`, so nginx moves its keep-alive connections to the new color."""


class StackError(Exception):
    """A step of the stack failed; the message is one line that says why."""


@dataclass
class ColorState:
    """One running color: which artifact it serves and where."""

    color: str
    model_dir: str
    version: str
    sha256: str
    port: int
    pid: int | None = None
    log: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the state file."""
        return asdict(self)


class Backend(Protocol):
    """The steps a switch needs, whatever runs the processes."""

    def start_color(self, color: str, model_dir: Path, version: str, sha256: str) -> ColorState:
        """Start `color` serving `model_dir`; return at once, before it is ready."""

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request straight to a color (not through nginx); status 0 if nothing answered."""

    def color_running(self, state: ColorState) -> bool:
        """Whether the color's server is still alive."""

    def stop_color(self, state: ColorState) -> str:
        """Stop gracefully and wait; return how it ended ("exited cleanly" or why not)."""

    def point_edge_at(self, state: ColorState) -> None:
        """Rename a new active-color symlink naming `state`'s socket: new connections go there."""

    def start_edge(self, first: ColorState) -> None:
        """Render the config, point it at `first`, check it (`nginx -t`) and start nginx."""

    def stop_edge(self) -> None:
        """Stop nginx gracefully."""

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request through nginx on a fresh connection; status 0 if nothing answered."""


def http_request(
    url: str, method: str = "GET", body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """A request on a new connection; (0, reason) when the connection itself fails."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error).encode()


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _executable(name: str, env_var: str, *fallbacks: Path) -> str:
    configured = os.environ.get(env_var)
    if configured:
        return configured
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if candidate.is_file():
            return str(candidate)
    raise StackError(f"{name} not found: install it or set {env_var}")


def _process_state(pid: int) -> str | None:
    """The /proc state letter of `pid` (R, S, Z...), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


class LocalBackend:
    """Colors are gunicorn masters on 127.0.0.1 ports and unix sockets in `<state>/run`; nginx
    runs with `<state>/nginx` as its prefix."""

    def __init__(self, state_dir: Path, options: EdgeOptions, workers: int | None) -> None:
        self.state_dir = state_dir
        self.prefix = state_dir / "nginx"
        self.socket_dir = state_dir / "run"
        self.options = options
        self.workers = workers
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _nginx(self, *args: str) -> subprocess.CompletedProcess[str]:
        nginx = _executable("nginx", "MLVAJRA_NGINX", Path("/usr/sbin/nginx"))
        command = [nginx, "-p", str(self.prefix), "-e", "stderr", "-c", str(self.conf), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    @property
    def conf(self) -> Path:
        """The rendered main nginx.conf."""
        return self.prefix / "nginx.conf"

    def start_color(self, color: str, model_dir: Path, version: str, sha256: str) -> ColorState:
        """Start `gunicorn -c gunicorn.conf.py app.main:app`, the container's command."""
        port = free_port()
        metrics_dir = self.state_dir / f"metrics-{color}"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        try:
            unix_socket = color_socket(self.socket_dir, color)
        except ValueError as error:
            raise StackError(str(error)) from None
        log = self.state_dir / f"{color}-{port}.log"
        environment = {
            "MLVAJRA_DRAIN_SECONDS": DRAIN_SECONDS,
            **os.environ,
            "MLVAJRA_MODEL_DIR": str(model_dir),
            "MLVAJRA_UNIX_SOCKET": str(unix_socket),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        if self.workers is not None:
            environment["MLVAJRA_WORKERS"] = str(self.workers)
        gunicorn = _executable(
            "gunicorn", "MLVAJRA_GUNICORN", Path(sys.executable).parent / "gunicorn"
        )
        with log.open("wb") as log_file:
            # A session of its own: the color outlives this command and ignores its terminal.
            process = subprocess.Popen(
                [gunicorn, "-c", str(GUNICORN_CONFIG), "app.main:app"],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[process.pid] = process
        return ColorState(color, str(model_dir), version, sha256, port, process.pid, str(log))

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Straight to the color's port."""
        return http_request(f"http://127.0.0.1:{state.port}{path}", method, body)

    def _alive(self, pid: int, marker: str) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        # Not our child: check the pid still belongs to the same program before trusting it.
        return _process_state(pid) not in (None, "Z") and marker in _cmdline(pid)

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
        """`<state>/run/active.sock` -> `<color>.sock` (relative: the folder may move)."""
        point_symlink(self.socket_dir / ACTIVE_SOCKET, f"{state.color}.sock")

    def test_config(self) -> None:
        """`nginx -t` on the rendered files."""
        result = self._nginx("-t")
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
        render_local(self.prefix, self.options, self.socket_dir / ACTIVE_SOCKET)
        self.point_edge_at(first)
        self.test_config()
        nginx = _executable("nginx", "MLVAJRA_NGINX", Path("/usr/sbin/nginx"))
        with (self.prefix / "nginx.out").open("wb") as log_file:
            process = subprocess.Popen(
                [nginx, "-p", str(self.prefix), "-e", "stderr", "-c", str(self.conf)],
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
        return http_request(f"http://127.0.0.1:{self.options.port}{path}", method, body)


# Runs inside a color container (no curl there): one request to the service, status then body.
_PROBE = (
    "import sys, urllib.request as u, urllib.error as e\n"
    "r = u.Request('http://127.0.0.1:8000' + sys.argv[2], method=sys.argv[1],"
    " data=sys.argv[3].encode() or None, headers={'Content-Type': 'application/json'})\n"
    "try:\n    s = u.urlopen(r, timeout=5)\nexcept e.HTTPError as x:\n    s = x\n"
    "print(s.status)\nprint(s.read().decode())\n"
)


class ComposeBackend:
    """The same steps as `docker compose` commands on docker-compose.yml (needs an engine)."""

    def __init__(self, state_dir: Path, options: EdgeOptions, models_root: Path) -> None:
        self.state_dir = state_dir
        self.options = options
        self.models_root = models_root.resolve()
        self.model_dirs: dict[str, str] = {}

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        docker = _executable("docker", "MLVAJRA_DOCKER")
        environment = {
            **os.environ,
            "MLVAJRA_MODELS": str(self.models_root),
            "MLVAJRA_PORT": str(self.options.port),
            "MLVAJRA_CLIENT_MAX_BODY_SIZE": str(self.options.body_limit),
            "MLVAJRA_RATE": self.options.rate,
            "MLVAJRA_BURST": str(self.options.burst),
            "MLVAJRA_DOCS": "on" if self.options.docs else "off",
        }
        for color, model_dir in self.model_dirs.items():
            environment[f"MLVAJRA_{color.upper()}_MODEL_DIR"] = model_dir
        command = [docker, "compose", "-f", str(COMPOSE_FILE), *args]
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=300, check=False
        )
        if check and result.returncode != 0:
            raise StackError(f"docker compose {args[0]} failed: {result.stderr.strip()[-300:]}")
        return result

    def _in_container(self, model_dir: Path) -> str:
        try:
            relative = model_dir.resolve().relative_to(self.models_root)
        except ValueError:
            raise StackError(
                f"{model_dir} is not under {self.models_root} (mounted at /models)"
            ) from None
        return f"/models/{relative.as_posix()}"

    def start_color(self, color: str, model_dir: Path, version: str, sha256: str) -> ColorState:
        """`docker compose up -d --no-deps --wait <color>` (waits for its /ready healthcheck)."""
        self.model_dirs[color] = self._in_container(model_dir)
        self._compose("up", "--detach", "--no-deps", "--force-recreate", color, check=False)
        return ColorState(color, str(model_dir), version, sha256, 8000)

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """`docker compose exec <color> python -c ...`: colors publish no port."""
        probe = ("python", "-c", _PROBE, method, path, (body or b"").decode())
        result = self._compose("exec", "-T", state.color, *probe, check=False)
        status, _, text = result.stdout.partition("\n")
        return (int(status), text.encode()) if status.isdigit() else (0, result.stderr.encode())

    def color_running(self, state: ColorState) -> bool:
        """`docker compose ps` lists it as running."""
        result = self._compose("ps", "--status", "running", "--quiet", state.color, check=False)
        return bool(result.stdout.strip())

    def stop_color(self, state: ColorState) -> str:
        """`docker compose stop` (SIGTERM, stop_grace_period, then SIGKILL)."""
        self._compose("stop", state.color)
        result = self._compose("ps", "--all", "--format", "json", state.color, check=False)
        for line in result.stdout.splitlines():
            code = json.loads(line).get("ExitCode")
            if code not in (None, 0):
                return f"exited with code {code}"
        return "exited cleanly"

    def point_edge_at(self, state: ColorState) -> None:
        """Rename the symlink in the socket volume, from inside the color (it owns the volume)."""
        script = (
            "import sys, pathlib, app.edge as e;"
            " e.point_symlink(pathlib.Path(sys.argv[1]), sys.argv[2])"
        )
        link = f"{COMPOSE_SOCKET_DIR}/{ACTIVE_SOCKET}"
        self._compose(
            "exec", "-T", state.color, "python", "-c", script, link, f"{state.color}.sock"
        )

    def start_edge(self, first: ColorState) -> None:
        """Point the symlink at `first`, then `docker compose up -d --wait nginx`."""
        self.point_edge_at(first)
        self._compose("up", "--detach", "--no-deps", "--wait", "nginx")

    def stop_edge(self) -> None:
        """`docker compose down`."""
        self._compose("down")

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Through the port nginx publishes."""
        return http_request(f"http://127.0.0.1:{self.options.port}{path}", method, body)
