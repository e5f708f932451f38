"""nginx in front of the colors: render the config templates, write the active upstream."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

NGINX_DIR = Path(__file__).resolve().parent.parent / "nginx"
"""The templates in the repository (`nginx/`)."""

SITE_TEMPLATE = "mlvajra.conf.template"
MAIN_TEMPLATE = "nginx.conf.template"
UPSTREAM_FILE = "active.conf"
UPSTREAM_KEEPALIVE = 32
"""Idle keep-alive connections each nginx worker keeps to the active color."""

_PLACEHOLDER = re.compile(r"\$\{(MLVAJRA_[A-Z_]+)\}")


class TemplateError(Exception):
    """A template names a placeholder nobody provided."""


@dataclass(frozen=True)
class EdgeOptions:
    """What the rendered nginx config depends on besides the active color."""

    port: int = 8080
    """Where nginx listens (127.0.0.1 for the local stack)."""
    rate: str = "100r/s"
    """Sustained requests per client address (nginx `limit_req_zone` rate)."""
    burst: int = 200
    """Requests above the rate a client may send at once before getting 429."""
    proxy_timeout: str = "10s"
    """nginx read/send timeout to the color; below gunicorn's graceful_timeout (20 s)."""
    docs: bool = True
    """Proxy /docs and /openapi.json; off answers 404."""
    body_limit: int = 4_096_000
    """client_max_body_size in bytes: MLVAJRA_MAX_INSTANCES x 4 KiB, as the service."""
    nginx_workers: int = 1
    """nginx worker processes."""


def render(template: str, values: dict[str, str]) -> str:
    """Replace every `${MLVAJRA_*}` placeholder; an unknown one is an error, not an empty string."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise TemplateError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def upstream_block(host: str, port: int) -> str:
    """The include that names the active color."""
    return (
        "# Written by `mlvajra stack`; replaced atomically on every switch.\n"
        "upstream active {\n"
        f"    server {host}:{port};\n"
        f"    keepalive {UPSTREAM_KEEPALIVE};\n"
        "    keepalive_timeout 60s;\n"
        "}\n"
    )


def write_atomically(path: Path, text: str) -> None:
    """Write a sibling temp file and rename it over `path`: readers see old or new, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def render_local(prefix: Path, options: EdgeOptions, upstream_port: int) -> Path:
    """Write nginx.conf, mlvajra.conf and active.conf into `prefix`; return nginx.conf's path."""
    prefix.mkdir(parents=True, exist_ok=True)
    for temp_dir in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
        (prefix / temp_dir).mkdir(exist_ok=True)
    # As root, nginx workers switch to `nobody`, who cannot write temp files in a private dir.
    user = ""
    if os.geteuid() == 0:
        user = "user root root;"
    values = {
        "MLVAJRA_PREFIX": str(prefix),
        "MLVAJRA_USER_DIRECTIVE": user,
        "MLVAJRA_NGINX_WORKERS": str(options.nginx_workers),
        "MLVAJRA_UPSTREAM_FILE": str(prefix / UPSTREAM_FILE),
        "MLVAJRA_LISTEN": f"127.0.0.1:{options.port}",
        "MLVAJRA_ACCESS_LOG": str(prefix / "access.log"),
        "MLVAJRA_CLIENT_MAX_BODY_SIZE": str(options.body_limit),
        "MLVAJRA_RATE": options.rate,
        "MLVAJRA_BURST": str(options.burst),
        "MLVAJRA_PROXY_TIMEOUT": options.proxy_timeout,
        "MLVAJRA_DOCS": "on" if options.docs else "off",
    }
    site = render((NGINX_DIR / SITE_TEMPLATE).read_text(), values)
    write_atomically(prefix / "mlvajra.conf", site)
    write_atomically(prefix / UPSTREAM_FILE, upstream_block("127.0.0.1", upstream_port))
    main = prefix / "nginx.conf"
    write_atomically(main, render((NGINX_DIR / MAIN_TEMPLATE).read_text(), values))
    return main
