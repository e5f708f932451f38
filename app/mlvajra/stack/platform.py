"""What a switch needs from wherever the colors and nginx run, and the state both sides share."""

from __future__ import annotations

import shutil
import socket
from typing import Protocol

import psutil
from pydantic import BaseModel, ConfigDict

from mlvajra.artifact import Format
from mlvajra.client import http_request
from mlvajra.errors import StackError

STOP_GRACE_SECONDS = 30.0
"""How long a color gets after SIGTERM; above gunicorn's graceful_timeout (20 s)."""
EDGE_STOP_SECONDS = 20.0
"""How long nginx may take to stop; above its worker_shutdown_timeout (15 s)."""
DRAIN_SECONDS = 1.0
"""MLVAJRA_DRAIN_SECONDS for the stack's colors unless set: after SIGTERM a color keeps serving
this long, answering `Connection: close`, so nginx moves its keep-alive connections to the new
color (docker-compose.yml sets the same)."""


class Release(BaseModel):
    """One artifact as a color must prove it serves it: /version's version and sha256."""

    model_config = ConfigDict(frozen=True)

    name: str
    model_dir: str
    model_format: Format
    version: str
    sha256: str
    manifest_sha256: str = ""
    """The sha256 of the manifest approved at switch time: the color is started with it pinned
    (MLVAJRA_MANIFEST_SHA256), so a manifest rewritten after the approval is refused."""


class ColorState(BaseModel):
    """One running color: which release it serves and where."""

    color: str
    name: str = ""
    model_dir: str
    model_format: Format
    version: str
    sha256: str
    manifest_sha256: str = ""
    port: int
    pid: int | None = None
    log: str | None = None

    @classmethod
    def of(cls, color: str, release: Release, port: int, **where: object) -> ColorState:
        """`color` serving `release` on `port` (and `pid`, `log` where known)."""
        return cls.model_validate({"color": color, **release.model_dump(), "port": port, **where})

    def release(self) -> Release:
        """The release this color serves."""
        return Release.model_validate(self.model_dump(include=set(Release.model_fields)))


class Backend(Protocol):
    """The steps a switch needs, whatever runs the processes."""

    def start_color(self, color: str, release: Release) -> ColorState:
        """Start `color` serving `release`; return at once, before it is ready."""

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request straight to a color (not through nginx); status 0 if nothing answered."""

    def color_running(self, state: ColorState) -> bool:
        """Whether the color's server is still alive."""

    def stop_color(self, state: ColorState) -> str:
        """Stop gracefully and wait; return how it ended ("exited cleanly" or why not)."""

    def point_edge_at(self, state: ColorState) -> None:
        """Rename new slot and active-color symlinks naming `state`'s socket: all new
        connections go there."""

    def split_edge(self, stable: ColorState, canary: ColorState, canary_slots: int) -> None:
        """Point `canary_slots` of the slots at `canary`, the others and the active one at
        `stable`."""

    def start_edge(self, first: ColorState) -> None:
        """Render the config, point it at `first`, check it (`nginx -t`) and start nginx."""

    def stop_edge(self) -> None:
        """Stop nginx gracefully."""

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request through nginx on a fresh connection; status 0 if nothing answered."""

    def control_request(self, path: str) -> tuple[int, bytes]:
        """GET `path` on nginx's stack-only listener (no client limits); status 0 if none."""


def edge_request(port: int, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    """Through nginx on 127.0.0.1, on a new connection."""
    return http_request(f"http://127.0.0.1:{port}{path}", method, body)


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def executable(configured: str, setting: str) -> str:
    """The program `configured` names (a path, or a name on PATH), or a one-line error."""
    found = shutil.which(configured)
    if found is None:
        raise StackError(f"{configured} not found: install it or set {setting}")
    return found


def process_alive(pid: int, marker: str) -> bool:
    """`pid` runs (not a zombie) and its command line names `marker`: the pid was not reused."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and marker in " ".join(process.cmdline())
    except psutil.Error:
        return False
