"""nginx in front of the colors: render the config templates, point the active-color symlink."""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mlvajra.config import load_settings
from mlvajra.errors import StackError

TEMPLATES = importlib.resources.files("mlvajra.stack") / "templates"
"""The nginx config templates, package data: a wheel install renders them too."""

SITE_TEMPLATE = "mlvajra.conf.template"
MAIN_TEMPLATE = "nginx.conf.template"
ACTIVE_SOCKET = "active.sock"
"""The symlink nginx connects through; it names the active color's unix socket."""
UPSTREAM_KEEPALIVE = 32
"""Idle keep-alive connections each nginx worker keeps per slot (all slots name one color but
during a canary): one backend without a client id sends everything through one slot."""
SLOTS = 20
"""Slot symlinks client traffic is split over: a canary's weight moves in steps of 5 %."""
SLOT_KEEPALIVE_TIME = 2.0
"""Seconds an upstream connection lives (nginx keepalive_time): a kept connection still reaches
the color it was opened to, so a re-pointed slot takes effect within this (nginx's default is
1 h; 10 s measured 9.8 s)."""
MAX_SOCKET_PATH = 107
"""Longest unix socket path Linux accepts (sun_path is 108 bytes with its terminating NUL)."""
CONTROL_PORT = 8081
"""The stack's own nginx listener on 127.0.0.1 (inside the container under compose)."""
RATE_PATTERN = re.compile(r"[1-9][0-9]{0,8}r/[sm]")
"""What nginx's `limit_req_zone rate=` accepts: whole requests per second or per minute."""
RATE_WHEN_OFF = "1r/s"
"""The zone's rate while the limit is off: nginx needs a valid one though it counts nothing."""

CONN_PER_CLIENT = 512
"""Default cap on one address's requests in progress: 32x a backend sending with 16 at once."""

_PLACEHOLDER = re.compile(r"\$\{(MLVAJRA_[A-Z_]+)\}")


class EdgeOptions(BaseModel):
    """What the rendered nginx config depends on besides the active color."""

    model_config = ConfigDict(frozen=True)

    port: int = 8080
    """Where nginx listens (127.0.0.1 for the local stack)."""
    control_port: int = CONTROL_PORT
    """The stack's own listener on 127.0.0.1: its confirmation, never rate limited."""
    rate: str | None = None
    """Sustained requests per client address (nginx `limit_req_zone` rate); None: no limit.

    Off by default: the service's callers are application backends, often one address for all
    their traffic (a per-address 100 r/s turned 99.8 % of one backend's requests into 429)."""
    burst: int = 200
    """Requests above the rate a client may send at once before getting 429 (with a rate)."""
    conn_per_client: int = Field(default=CONN_PER_CLIENT, ge=1)
    """Requests one client address may have in progress at once (nginx `limit_conn`); 429 above.

    Far above one application backend (one address, 16 to a few hundred keep-alive connections),
    far below what the edge holds (worker_connections 8192 per nginx worker)."""
    client_timeout: str = "10s"
    """Longest pause between two reads of a client's headers or body, or two writes to it."""
    proxy_timeout: str = "10s"
    """nginx read/send timeout to the color; below gunicorn's graceful_timeout (20 s)."""
    docs: bool = True
    """Proxy /docs and /openapi.json; off answers 404."""
    body_limit: int = Field(default_factory=lambda: load_settings().body_limit)
    """client_max_body_size in bytes: the service's own limit, from the same settings (sized
    from the inputs of the artifact at MLVAJRA_MODEL_DIR unless MLVAJRA_MAX_BODY_BYTES is set)."""
    nginx_workers: int = 1
    """nginx worker processes."""


def check_rate(rate: str | None) -> str | None:
    """`rate` if nginx accepts it (`1000r/s`, `600r/m`) or None, else a one-line error."""
    if rate is not None and not RATE_PATTERN.fullmatch(rate):
        raise StackError(f"--rate {rate!r}: give requests per second or minute, e.g. 1000r/s")
    return rate


def rate_values(options: EdgeOptions) -> dict[str, str]:
    """The template's rate limit placeholders: on with a rate, off (nothing counted) without."""
    return {
        "MLVAJRA_RATE_LIMIT": "on" if options.rate else "off",
        "MLVAJRA_RATE": options.rate or RATE_WHEN_OFF,
        "MLVAJRA_BURST": str(options.burst),
    }


def render(template: str, values: dict[str, str]) -> str:
    """Replace every `${MLVAJRA_*}` placeholder; an unknown one is an error, not an empty string."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise StackError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def color_socket(socket_dir: Path, color: str) -> Path:
    """Where `color` listens for nginx: `<socket_dir>/<color>.sock`, short enough for Linux."""
    path = socket_dir / f"{color}.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        raise StackError(f"{path} is longer than {MAX_SOCKET_PATH} bytes: use a shorter folder")
    return path


def point_symlink(link: Path, target: str) -> None:
    """Make `link` name `target` in one rename: a connect() sees the old or the new, never none."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    os.replace(temporary, link)


def point_slots(socket_dir: Path, stable: str, canary: str = "", canary_slots: int = 0) -> None:
    """slot00 up to `canary_slots` name `canary`, the others `stable` (socket file names).

    Filled from slot00 upward: a client moved to the canary stays there as its weight grows.
    """
    for index in range(SLOTS):
        target = canary if index < canary_slots else stable
        point_symlink(socket_dir / f"slot{index:02d}.sock", target)


def write_atomically(path: Path, text: str) -> None:
    """Write a sibling temp file and rename it over `path`: readers see old or new, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def render_local(
    prefix: Path,
    options: EdgeOptions,
    active_socket: Path,
    user: str | None = None,
    temp_dir: Path | None = None,
) -> Path:
    """Write nginx.conf and mlvajra.conf into `prefix`; return nginx.conf's path.

    nginx reaches the active color through `active_socket`, which need not exist yet, and
    clients through the slot symlinks beside it (`point_slots`). Started as root, the workers
    run as `user` ("name group"; nginx's default is `nobody`) and write request bodies and
    proxied answers in `temp_dir` (default: `prefix`): both must be reachable by that user.
    """
    prefix.mkdir(parents=True, exist_ok=True)
    temp_dir = temp_dir or prefix
    for temp in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
        (temp_dir / temp).mkdir(exist_ok=True)  # nginx hands them to its workers' user
    values = {
        "MLVAJRA_PREFIX": str(prefix),
        "MLVAJRA_TEMP_DIR": str(temp_dir),
        "MLVAJRA_USER_DIRECTIVE": f"user {user};" if user else "",
        "MLVAJRA_NGINX_WORKERS": str(options.nginx_workers),
        "MLVAJRA_ACTIVE_SOCKET": str(active_socket),
        "MLVAJRA_SOCKET_DIR": str(active_socket.parent),
        "MLVAJRA_UPSTREAM_KEEPALIVE": str(UPSTREAM_KEEPALIVE),
        "MLVAJRA_SLOT_KEEPALIVE_TIME": f"{SLOT_KEEPALIVE_TIME:g}s",
        "MLVAJRA_LISTEN": f"127.0.0.1:{options.port}",
        "MLVAJRA_CONTROL_LISTEN": f"127.0.0.1:{options.control_port}",
        "MLVAJRA_ACCESS_LOG": str(prefix / "access.log"),
        "MLVAJRA_CLIENT_MAX_BODY_SIZE": str(options.body_limit),
        **rate_values(options),
        "MLVAJRA_CONN_PER_CLIENT": str(options.conn_per_client),
        "MLVAJRA_CLIENT_TIMEOUT": options.client_timeout,
        "MLVAJRA_PROXY_TIMEOUT": options.proxy_timeout,
        "MLVAJRA_DOCS": str(options.docs).lower(),
    }
    site = render((TEMPLATES / SITE_TEMPLATE).read_text(), values)
    write_atomically(prefix / "mlvajra.conf", site)
    main = prefix / "nginx.conf"
    write_atomically(main, render((TEMPLATES / MAIN_TEMPLATE).read_text(), values))
    return main
