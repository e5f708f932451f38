"""Starting under real gunicorn: a bad artifact or setting stops the master in one line and is
never ready, and the metrics folder is never emptied beyond prometheus_client's own files.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlvajra.artifact import JOBLIB_FILE, MANIFEST_NAME, ONNX_FILE
from mlvajra.cli import GUNICORN_ARGS
from tests.fixtures import CreatesFileWhenUnpickled
from tests.topology.faults import log_entries, rehash
from tests.topology.processes import BIN, Gunicorn, free_port, wait_for

pytestmark = pytest.mark.topology


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _tamper(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"X")


def _ready_statuses_until_exit(server: Gunicorn, timeout: float = 60.0) -> list[int | str]:
    """Poll /ready until the master exits; every answer (or 'refused') in order."""
    assert server.process is not None
    seen: list[int | str] = []
    deadline = time.monotonic() + timeout
    while server.process.poll() is None and time.monotonic() < deadline:
        try:
            seen.append(httpx.get(f"{server.url}/ready", timeout=1.0).status_code)
        except httpx.TransportError:
            seen.append("refused")
        time.sleep(0.05)
    return seen


# (id, how to break the artifact, extra environment, the one-line reason)
ARTIFACT_FAULTS = [
    ("manifest missing", lambda d, m: (d / MANIFEST_NAME).unlink(), {}, "cannot read .*manifest"),
    ("manifest truncated", lambda d, m: _truncate(d / MANIFEST_NAME), {}, "invalid manifest"),
    ("onnx missing", lambda d, m: (d / ONNX_FILE).unlink(), {}, "missing artifact file"),
    ("onnx truncated", lambda d, m: _truncate(d / ONNX_FILE), {}, "sha256 mismatch"),
    (
        "onnx tampered",
        lambda d, m: _tamper(d / ONNX_FILE),
        {},
        "sha256 mismatch for .*model\\.onnx",
    ),
    (
        "joblib replaced by code",
        lambda d, m: (d / JOBLIB_FILE).write_bytes(pickle.dumps(CreatesFileWhenUnpickled(m))),
        {"MLVAJRA_MODEL_FORMAT": "joblib"},
        "sha256 mismatch for .*model\\.joblib",
    ),
    ("bad setting", lambda d, m: None, {"MLVAJRA_MAX_INSTANCES": "0"}, "MLVAJRA_MAX_INSTANCES"),
    (
        "manifest not the pinned one",
        lambda d, m: None,
        {"MLVAJRA_MANIFEST_SHA256": "0" * 64},
        "MLVAJRA_MANIFEST_SHA256 pins 0{64}",
    ),
    (
        "unlisted file planted",
        lambda d, m: (d / "sitecustomize.py").write_text("import os\n"),
        {},
        "sitecustomize\\.py is not listed in the manifest",
    ),
]


@pytest.mark.parametrize(
    ("breaks", "env", "reason"),
    [fault[1:] for fault in ARTIFACT_FAULTS],
    ids=[fault[0] for fault in ARTIFACT_FAULTS],
)
def test_bad_artifact_exits_non_zero_in_one_line_and_is_never_ready(
    artifact_copy: Path, tmp_path: Path, breaks: Any, env: dict[str, str], reason: str
) -> None:
    marker = tmp_path / "unpickled"
    breaks(artifact_copy, marker)
    server = Gunicorn(artifact_copy, tmp_path, workers=1, env=env).start()
    seen = _ready_statuses_until_exit(server)
    code = server.stop()
    log = server.log()
    assert code != 0
    assert 200 not in seen
    reasons = [e["message"] for e in log_entries(log) if "refusing to start" in e["message"]]
    assert len(reasons) == 1, log
    assert re.search(reason, reasons[0]), reasons[0]
    assert "Traceback" not in log
    assert "Booting worker" not in log
    assert not marker.exists(), "a joblib file was unpickled before its hash was checked"


def test_consistent_but_corrupt_onnx_stops_the_master_and_is_never_ready(
    artifact_copy: Path, tmp_path: Path
) -> None:
    # Past the hash check (the manifest was rewritten to match): onnxruntime refuses the graph
    # in the worker's lifespan, the worker cannot boot, the master gives up.
    _truncate(artifact_copy / ONNX_FILE)
    rehash(artifact_copy, ONNX_FILE)
    server = Gunicorn(artifact_copy, tmp_path, workers=1).start()
    seen = _ready_statuses_until_exit(server)
    code = server.stop()
    assert code != 0
    assert 200 not in seen
    assert "Worker failed to boot" in server.log()


def _gunicorn_in(cwd: Path, model_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = free_port()
    environment = {
        **os.environ,
        "MLVAJRA_MODEL_DIR": str(model_dir),
        "PORT": str(port),
        "MLVAJRA_WORKERS": "1",
        **env,
    }
    log = (cwd.parent / f"gunicorn-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), *GUNICORN_ARGS],
        cwd=cwd,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", 30, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
    return process


def _tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize("value", ["", " "])
def test_blank_metrics_dir_touches_nothing_in_the_working_directory(
    artifact_dir: Path, tmp_path: Path, value: str
) -> None:
    # Everything inside tmp_path: the working directory, and the temp folder gunicorn falls back to.
    workdir = tmp_path / "work"
    (workdir / "sub").mkdir(parents=True)
    for name in ["keep.txt", "counter_1.db", "data.db", "sub/histogram_2.db"]:
        (workdir / name).write_text("precious")
    before = _tree(workdir)
    (tmp_path / "tmp").mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": value, "TMPDIR": str(tmp_path / "tmp")}
    process = _gunicorn_in(workdir, artifact_dir, env)
    assert process.returncode == 0
    assert _tree(workdir) == before
    assert all((workdir / name).read_text() == "precious" for name in before if "." in name)


def test_shared_metrics_dir_loses_only_prometheus_files(artifact_dir: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    keep = ["notes.txt", "data.db", "counter.db", "counter_1.db.bak", "sub/counter_9.db"]
    for name in [*keep, "counter_999999.db", "gauge_max_999999.db"]:
        (shared / name).write_text("x")
    workdir = tmp_path / "work"
    workdir.mkdir()
    process = _gunicorn_in(workdir, artifact_dir, {"PROMETHEUS_MULTIPROC_DIR": str(shared)})
    assert process.returncode == 0
    assert all((shared / name).read_text() == "x" for name in keep)
    assert not (shared / "counter_999999.db").exists()
    assert not (shared / "gauge_max_999999.db").exists()
