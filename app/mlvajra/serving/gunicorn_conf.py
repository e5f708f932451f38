"""gunicorn's settings: `gunicorn -c python:mlvajra.serving.gunicorn_conf mlvajra.serving.main:app`.

Every value comes from `mlvajra.config.Settings`, so the container, `mlvajra serve` and the
stack's colors run the same server. A bad setting or artifact stops the master in one line.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlvajra.config import Settings, account, load_settings
from mlvajra.errors import MlvajraError
from mlvajra.logs import logging_config

# Multiprocess metrics: the folder must be in the environment before any worker imports
# prometheus_client. The master sets it here, once, before forking.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlvajra-metrics-")

_refusal: str | None = None
_worker_account: tuple[int, int] | None = None
try:
    _settings = load_settings()
    if _settings.worker_user is not None and os.geteuid() == 0:
        # Workers setuid after the fork: they import the app and load the handed-over bytes,
        # never the model folder. The master chowns the unix socket to them (mode 0770).
        _worker_account = account(_settings.worker_user, "MLVAJRA_WORKER_USER")
        user, group = _worker_account
except MlvajraError as error:
    _refusal = str(error)  # on_starting says it in the JSON log and stops the master
    _settings = Settings.model_construct()

# numpy's OpenBLAS starts one thread per CPU when it is imported (in the master, before it forks:
# every worker inherits numpy), which took a fifth of numpy's import here. A worker gets its share
# of the CPUs, as onnxruntime does (`Settings.threads`), unless the environment says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_settings.threads))

bind = _settings.binds
workers = _settings.workers
worker_class = "mlvajra.serving.worker.Worker"
# Timeouts ordered for a proxy in front: nginx's upstream keepalive_timeout (60 s) is shorter than
# ours, so nginx never reuses a socket gunicorn already closed; nginx's proxy_read_timeout (10 s)
# is shorter than graceful_timeout (20 s), which is shorter than the container stop grace (30 s).
keepalive = 75
timeout = 30
graceful_timeout = 20
# No preload: onnxruntime sessions must be created after fork. No max_requests: recycled workers
# leave metric files behind and no leak has been measured.
preload_app = False
# reuse_port gives each worker its own TCP sockets (busiest worker 51 %, bench/), the metrics
# port's too, but a worker binding a unix path removes the previous worker's socket file: with one
# (MLVAJRA_UNIX_SOCKET or a `unix:` MLVAJRA_BIND), the master binds them all.
reuse_port = not any(address.startswith("unix:") for address in bind)
# Sockets (and files) for the owner and its group only: a unix socket is mode 0777 under gunicorn's
# default umask 0, so any local user could call the service past nginx's limits. In compose, nginx
# joins the colors' group (docker-compose.yml); the local stack runs both as one user (as root:
# MLVAJRA_STACK_USER, to whom gunicorn chowns the socket).
umask = 0o007
# gunicorn 27 opens a control socket at a fixed path: two colors on one host would collide.
control_socket_disable = True
accesslog = None
loglevel = _settings.log_level
proc_name = "mlvajra"
logconfig_dict = logging_config(loglevel, expose_errors=_settings.expose_errors)

# The names prometheus_client gives its files: `<type>_<pid>.db`, `gauge_<mode>_<pid>.db`.
_PROMETHEUS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def on_starting(server: Any) -> None:
    """Master, before forking: empty the metrics folder, refuse a bad artifact in one line, and
    keep the verified bytes every worker serves (`mlvajra.serving.handoff`)."""
    # Only the files prometheus_client writes, never the folder nor any other `.db`: a mistyped
    # path (an earlier version removed the working directory) must not delete anything else.
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.iterdir():
        if _PROMETHEUS_FILE.fullmatch(stale.name) and stale.is_file():
            stale.unlink()

    from mlvajra.serving.handoff import hand_over, verify_once  # no prometheus import

    try:
        if _refusal is not None:
            raise MlvajraError(_refusal)
        # Read and checked once, here: workers (respawns too) load these bytes, not the folder.
        verified = verify_once(
            _settings.model_dir,
            _settings.model_format,
            _settings.manifest_sha256,
            _settings.signing_public_key,
        )
        hand_over(verified)
    except MlvajraError as error:
        server.log.error("refusing to start: %s", error)
        sys.exit(1)
    # What every worker imports at start anyway, imported once here: forked workers inherit it
    # instead of importing it twice in parallel (server CPU per cold start 1.05 -> 0.86 s, first
    # answer ~45 ms sooner). Modules only: no metric, loop or session exists before the fork.
    import prometheus_client.multiprocess  # noqa: F401
    import starlette.requests  # noqa: F401
    import uvicorn.lifespan.on  # noqa: F401

    if verified.manifest.reference is None:
        # Said here, in the master, once: not once per worker.
        server.log.warning("%s has no reference profile: no drift metrics", _settings.model_dir)


def post_fork(server: Any, worker: Any) -> None:
    """In a new worker, still root: drop the master's supplementary groups before gunicorn
    switches to `user` and `group` (its `initgroups` would keep gid 0: benoitc/gunicorn#2770)."""
    if _worker_account is not None:
        os.setgroups([])


def when_ready(server: Any) -> None:
    """With reuse_port the master holds no socket and logs an empty "Listening at": say where."""
    if reuse_port:
        server.log.info("workers listen at: %s", ", ".join(bind))


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the aggregate."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
