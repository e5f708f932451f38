"""The compose stack: the same steps as `docker compose` commands on the project's compose file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mlvajra.config import StackSettings
from mlvajra.errors import StackError
from mlvajra.stack.nginx import CONTROL_PORT, EdgeOptions
from mlvajra.stack.platform import ColorState, Release, edge_request, executable

COMPOSE_FILE = "docker-compose.yml"
COMPOSE_SOCKET_DIR = "/run/mlvajra"
"""The volume the colors and nginx share in docker-compose.yml: color sockets and the symlink."""
SERVICE_PORT = 8000
"""Where each color listens inside its container (PORT in docker-compose.yml)."""


def compose_file(project_dir: Path) -> Path:
    """`<project_dir>/docker-compose.yml`, or a one-line error saying where it was looked for."""
    path = project_dir.resolve() / COMPOSE_FILE
    if not path.is_file():
        raise StackError(f"no {COMPOSE_FILE} in {path.parent}: pass --project-dir <checkout>")
    return path


class ComposeBackend:
    """Colors and nginx are services of docker-compose.yml (needs a Docker engine)."""

    def __init__(self, options: EdgeOptions, models_root: Path, project_dir: Path) -> None:
        self.options = options
        self.models_root = models_root.resolve()
        self.file = compose_file(project_dir)
        self.releases: dict[str, tuple[str, Release]] = {}
        """Per color started here: its model folder inside the container, and the release."""

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        docker = executable(StackSettings().docker, "MLVAJRA_DOCKER")
        environment = {
            **os.environ,
            "MLVAJRA_MODELS": str(self.models_root),
            "MLVAJRA_EDGE_PORT": str(self.options.port),
            "MLVAJRA_CLIENT_MAX_BODY_SIZE": str(self.options.body_limit),
            # Empty: docker-compose.yml turns the limit off (MLVAJRA_RATE_LIMIT).
            "MLVAJRA_RATE": self.options.rate or "",
            "MLVAJRA_BURST": str(self.options.burst),
            "MLVAJRA_CONN_PER_CLIENT": str(self.options.conn_per_client),
            "MLVAJRA_DOCS": str(self.options.docs).lower(),
        }
        for color, (model_dir, release) in self.releases.items():
            environment[f"MLVAJRA_{color.upper()}_MODEL_DIR"] = model_dir
            environment[f"MLVAJRA_{color.upper()}_MODEL_FORMAT"] = release.model_format
            environment[f"MLVAJRA_{color.upper()}_MANIFEST_SHA256"] = release.manifest_sha256
        command = [docker, "compose", "-f", str(self.file), *args]
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

    def start_color(self, color: str, release: Release) -> ColorState:
        """`docker compose up -d --no-deps --force-recreate <color>` with its folder and format."""
        self.releases[color] = (self._in_container(Path(release.model_dir)), release)
        self._compose("up", "--detach", "--no-deps", "--force-recreate", color, check=False)
        return ColorState.of(color, release, SERVICE_PORT)

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """`docker compose exec <color> python -m mlvajra.serving.probe`: colors publish no port."""
        probe = [
            "python",
            "-m",
            "mlvajra.serving.probe",
            path,
            "--method",
            method,
            "--timeout",
            "5",
        ]
        if body:
            probe += ["--body", body.decode()]
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
        """Rename the symlinks in the socket volume, from inside the color (it owns the volume)."""
        self._point(state, state, 0)

    def split_edge(self, stable: ColorState, canary: ColorState, canary_slots: int) -> None:
        """The same renames as the local stack's, from inside the canary's container."""
        self._point(stable, canary, canary_slots)

    def _point(self, stable: ColorState, canary: ColorState, canary_slots: int) -> None:
        script = (
            "import sys, pathlib, mlvajra.stack.nginx as e; d = pathlib.Path(sys.argv[1]);"
            " e.point_slots(d, sys.argv[2], sys.argv[3], int(sys.argv[4]));"
            " e.point_symlink(d / e.ACTIVE_SOCKET, sys.argv[2])"
        )
        sockets = [f"{stable.color}.sock", f"{canary.color}.sock", str(canary_slots)]
        self._compose(
            "exec", "-T", canary.color, "python", "-c", script, COMPOSE_SOCKET_DIR, *sockets
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
        return edge_request(self.options.port, method, path, body)

    def control_request(self, path: str) -> tuple[int, bytes]:
        """curl inside the nginx container: its stack-only listener publishes no port."""
        url = f"http://127.0.0.1:{CONTROL_PORT}{path}"
        command = ["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", url]
        result = self._compose("exec", "-T", "nginx", *command, check=False)
        body, _, status = result.stdout.rpartition("\n")
        return (int(status), body.encode()) if status.isdigit() else (0, result.stderr.encode())
