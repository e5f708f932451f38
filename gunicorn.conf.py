"""gunicorn settings for mlvajra: `gunicorn -c gunicorn.conf.py app.main:app`.

Everything comes from the environment so the container, `mlvajra serve` and `make run` share it.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

# Multiprocess metrics: the directory must be in the environment before any worker imports
# prometheus_client. The master sets it here, once, before forking.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlvajra-metrics-")

_cpus = os.cpu_count() or 1
_host = os.environ.get("HOST", "127.0.0.1")
bind = [os.environ.get("MLVAJRA_BIND", f"{_host}:{os.environ.get('PORT', '8000')}")]
# The stack's nginx connects to a color through this unix socket (`mlvajra stack`, README).
_unix_socket = os.environ.get("MLVAJRA_UNIX_SOCKET", "").strip()
if _unix_socket:
    bind.append(f"unix:{_unix_socket}")
workers = int(os.environ.get("MLVAJRA_WORKERS") or _cpus)
worker_class = "uvicorn_worker.UvicornWorker"
# onnxruntime threads per worker so that workers x threads <= CPUs.
os.environ.setdefault("MLVAJRA_ONNX_THREADS", str(max(1, _cpus // workers)))

# Timeouts ordered for a proxy in front: nginx's upstream keepalive_timeout (60 s) is shorter than
# ours, so nginx never reuses a socket gunicorn already closed; nginx's proxy_read_timeout (10 s)
# is shorter than graceful_timeout (20 s), which is shorter than the container stop grace (30 s).
keepalive = 75
timeout = 30
graceful_timeout = 20
# No preload: onnxruntime sessions must be created after fork (PITFALLS.md). No max_requests:
# recycled workers leave metric files behind and no leak has been measured.
preload_app = False
# reuse_port gives each worker its own TCP socket (busiest worker 51 %, bench/), but a worker
# binding a unix path removes the previous worker's socket file: with one, the master binds both.
reuse_port = not _unix_socket
# gunicorn 27 opens a control socket at a fixed path: two colors on one host would collide.
control_socket_disable = True
accesslog = None
loglevel = os.environ.get("MLVAJRA_LOG_LEVEL", "info")
proc_name = "mlvajra"


def _logconfig():
    from pydantic import ValidationError

    from app.config import Settings
    from app.logs import logging_config

    try:
        expose_errors = Settings().expose_errors
    except ValidationError:
        expose_errors = False  # on_starting refuses to start, in one line
    return logging_config(loglevel, expose_errors=expose_errors)


logconfig_dict = _logconfig()


# The names prometheus_client gives its files: `<type>_<pid>.db`, `gauge_<mode>_<pid>.db`.
_PROMETHEUS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def on_starting(server):
    """Master, before forking: empty the metrics folder and refuse a bad artifact in one line."""
    # Only the files prometheus_client writes, never the folder nor any other `.db`: a mistyped
    # path (an earlier version removed the working directory) must not delete anything else.
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.iterdir():
        if _PROMETHEUS_FILE.fullmatch(stale.name) and stale.is_file():
            stale.unlink()

    from pydantic import ValidationError

    from app.artifact import ArtifactError, read_manifest, verify_files  # no prometheus import
    from app.config import Settings

    try:
        settings = Settings()
        manifest = read_manifest(settings.model_dir)
        verify_files(settings.model_dir, manifest)
    except ValidationError as error:
        first = error.errors()[0]
        where = "MLVAJRA_" + ".".join(str(part) for part in first["loc"]).upper()
        server.log.error("refusing to start: %s: %s", where, first["msg"])
        sys.exit(1)
    except ArtifactError as error:
        server.log.error("refusing to start: %s", error)
        sys.exit(1)


def when_ready(server):
    """With reuse_port the master holds no socket and logs an empty "Listening at": say where."""
    if reuse_port:
        server.log.info("workers listen at: %s", ", ".join(bind))


def child_exit(server, worker):
    """A worker is gone: drop its live gauges from the aggregate."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
