"""What the gunicorn master does before it forks: paid once, serially, before any worker exists,
and inherited by every worker. It must stay lean, and fork with no thread but its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Neither the master nor a worker's start needs these (the FastAPI app is built on first use), or
# they must not cross a fork: importing onnxruntime starts a thread.
NOT_BEFORE_FORK = (
    *("pydantic_settings", "fastapi", "typer", "onnxruntime", "sklearn", "pandas", "scipy"),
    "pyarrow",
)
# What every worker imports at start anyway, imported once by the master for all of them.
INHERITED = ("prometheus_client", "starlette")

# The master as gunicorn runs it: the config module, the worker class, `on_starting` (which
# verifies and keeps the artifact); then the uvicorn config a worker loads after the fork.
_MASTER_SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import mlvajra.serving.gunicorn_conf as conf
    from gunicorn.util import load_class

    worker_class = load_class(conf.worker_class)

    class Log:
        def error(self, *args):
            print("error:", args)

        def warning(self, *args):
            pass

    class Server:
        log = Log()

    def loaded():
        return sorted({{name.split(".")[0] for name in sys.modules}} & {heavy!r})

    conf.on_starting(Server())
    print("threads:", len(os.listdir("/proc/self/task")))
    print("imported:", loaded())
    print("metric files:", os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    print("inherited:", sorted({{name.split(".")[0] for name in sys.modules}} & {inherited!r}))

    import uvicorn.config

    async def app(scope, receive, send):
        pass

    uvicorn.config.Config(app=app, **worker_class.CONFIG_KWARGS).load()
    print("worker config:", loaded())
    """
)


def test_the_master_forks_lean_and_single_threaded(artifact_dir: Path, tmp_path: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("OPENBLAS_NUM_THREADS", "PROMETHEUS_MULTIPROC_DIR")
    }
    environment |= {
        "MLVAJRA_MODEL_DIR": str(artifact_dir),
        "MLVAJRA_WORKERS": str(os.cpu_count()),  # one CPU each: one OpenBLAS thread, none started
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    script = _MASTER_SCRIPT.format(heavy=set(NOT_BEFORE_FORK), inherited=set(INHERITED))
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "threads: 1",
        "imported: []",
        "metric files: []",
        "inherited: ['prometheus_client', 'starlette']",
        "worker config: []",
    ]
