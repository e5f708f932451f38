"""The servers `make bench` compares, each started as deployed and stopped cleanly."""

from __future__ import annotations

import compileall
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx
import psutil

import mlvajra
from mlvajra.cli import GUNICORN_ARGS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.topology.processes import Nginx, free_port  # noqa: E402

WORKERS = 2


@dataclass
class Server:
    """A started server: its URL, its process tree, and how long it took to answer."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    cold_start_s: float
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _processes(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """(every process of the server, the gunicorn master's workers)."""
        roots = [psutil.Process(p.pid) for p in [self.process, *self.extra]]
        workers = roots[0].children(recursive=True)
        others = [child for root in roots[1:] for child in root.children(recursive=True)]
        return roots + workers + others, workers

    def rss_mb(self) -> tuple[float, float]:
        """(total RSS of every process in MB, largest gunicorn worker in MB)."""
        processes, workers = self._processes()
        total = sum(p.memory_info().rss for p in processes)
        return total / 2**20, max(p.memory_info().rss for p in workers) / 2**20

    def cpu_seconds(self) -> float:
        """User + system CPU seconds every process of the server has used so far."""
        processes, _ = self._processes()
        return sum(sum(p.cpu_times()[:2]) for p in processes)

    def worker_cpu_seconds(self) -> dict[int, float]:
        """CPU seconds so far by gunicorn worker pid: how evenly the workers share the load."""
        _, workers = self._processes()
        return {p.pid: sum(p.cpu_times()[:2]) for p in workers}


def _wait_first_prediction(
    client: httpx.Client, url: str, body: bytes, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60
    headers = {"content-type": "application/json"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            if client.post(f"{url}/predict", content=body, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{url} gave no prediction within 60 s")


@cache
def _compiled(*sources: Path) -> None:
    """Bytecode for these sources, as an installed wheel (and the image) has it for every
    package: where PYTHONDONTWRITEBYTECODE is set, each start compiled mlvajra's ~100 modules
    again, about 0.1 s of CPU in the master and in every worker."""
    for source in sources:
        if source.is_dir():
            compileall.compile_dir(source, quiet=1)
        else:
            compileall.compile_file(source, quiet=1)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def _gunicorn(
    name: str, command: list[str], env: dict[str, str], port: int, body: bytes, log: Path
) -> Iterator[Server]:
    # One client, made before the clock starts: a new one per attempt (its TLS context) took
    # ~47 ms of CPU, most of a core polling beside the starting server on a 2-core machine.
    with httpx.Client() as client:
        started = time.monotonic()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_first_prediction(client, url, body, process)
            yield Server(name, url, process, time.monotonic() - started)
        finally:
            _stop(process)


def floor_server(model_dir: Path, body: bytes, workdir: Path) -> Callable[[], object]:
    """The minimal FastAPI + onnxruntime app under gunicorn: 2 uvicorn workers, reuse_port."""
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "-k",
        "uvicorn_worker.UvicornWorker",
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "75",
        # Each worker its own socket, as mlvajra has: without it one worker took all 32
        # connections (issue 17), and the floor would be a weaker reference than it can be.
        "--reuse-port",
        "bench.floor_app:app",
    ]
    env = {"FLOOR_MODEL_DIR": str(model_dir)}
    _compiled(ROOT / "bench" / "floor_app.py")
    return lambda: _gunicorn("floor", command, env, port, body, workdir / "floor.log")


def mlvajra_server(
    model_dir: Path,
    body: bytes,
    workdir: Path,
    unix_socket: Path | None = None,
    workers: int = WORKERS,
) -> Callable[[], object]:
    """mlvajra exactly as deployed: GUNICORN_ARGS, 2 workers unless said (and a stack color's
    socket)."""
    port = free_port()
    command = [str(BIN / "gunicorn"), *GUNICORN_ARGS]
    env = {
        "MLVAJRA_MODEL_DIR": str(model_dir),
        "PORT": str(port),
        "MLVAJRA_WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    if unix_socket is not None:
        env["MLVAJRA_UNIX_SOCKET"] = str(unix_socket)
    _compiled(Path(mlvajra.__file__).parent)
    return lambda: _gunicorn(
        "mlvajra (gunicorn)", command, env, port, body, workdir / "mlvajra.log"
    )


def nginx_server(model_dir: Path, body: bytes, workdir: Path) -> Callable[[], object]:
    """mlvajra behind the repository's nginx config, through a unix socket as in the stack
    (its defaults: no client rate limit, so one loud client is served at full speed)."""
    unix_socket = workdir / "color.sock"
    start_gunicorn = mlvajra_server(model_dir, body, workdir, unix_socket)

    @contextmanager
    def start() -> Iterator[Server]:
        with start_gunicorn() as upstream:  # type: ignore[attr-defined]
            prefix = workdir / "nginx"
            edge = Nginx(prefix, unix_socket)
            with edge:
                assert edge.process is not None
                yield Server(
                    "mlvajra (nginx)",
                    edge.url,
                    upstream.process,
                    upstream.cold_start_s,
                    extra=[edge.process],
                )

    return start
