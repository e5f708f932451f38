"""`mlvajra stack` for real: blue/green switch and rollback under load, and refused switches."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlvajra.artifact import MANIFEST_NAME, ONNX_FILE
from mlvajra.stack.nginx import ACTIVE_SOCKET, point_symlink
from tests.topology.processes import Load, free_port, wait_until_busy
from tests.topology.stacks import CONNECTIONS, REQUESTS, Stack, switch_under_load

pytestmark = pytest.mark.topology


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_switch_and_rollback_under_load_lose_nothing(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, one_record: dict[str, Any]
) -> None:
    """The switch runs under keep-alive clients (wrk's default), the rollback under clients that
    send `Connection: close`: neither loses a request. Both with the stack's default settings:
    16 connections from one address, as one application backend sends its traffic."""
    stack.up(artifact_dir, "--workers", "2")
    blue_pid = stack.state()["colors"]["blue"]["pid"]
    nginx_pid = _nginx_pid(stack)

    figures, result, took = switch_under_load(
        stack, one_record, ["switch", "--model-dir", str(artifact_v2_dir)], keepalive=True
    )
    print(f"switch: {figures} cli {took:.2f} s\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures.requests >= REQUESTS
    assert figures.non_2xx == 0
    assert figures.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert set(figures.versions) == {"1", "2"}, "both versions answered during the load"
    assert stack.served_version() == "2"
    assert "blue drained and stopped" in result.stdout
    assert "exited cleanly" in result.stdout
    assert not _pid_alive(blue_pid)
    assert stack.state()["active"] == "green"
    assert os.readlink(_active_socket(stack)) == "green.sock"

    figures, result, took = switch_under_load(stack, one_record, ["rollback"])
    print(f"rollback: {figures} cli {took:.2f} s\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures.requests >= REQUESTS
    assert figures.failures == 0
    assert set(figures.versions) == {"1", "2"}
    assert stack.served_version() == "1"
    assert "green drained and stopped" in result.stdout
    assert "exited cleanly" in result.stdout
    assert stack.state()["colors"]["green"] is None
    assert _nginx_pid(stack) == nginx_pid, "the same nginx master served throughout"


def test_switch_without_drain_relies_on_nginx_resending_and_loses_nothing(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, one_record: dict[str, Any]
) -> None:
    """MLVAJRA_DRAIN_SECONDS=0: the old color closes its idle keep-alive connections at SIGTERM,
    racing nginx's reuse of them; `proxy_next_upstream error non_idempotent` resends those."""
    no_drain = {"MLVAJRA_DRAIN_SECONDS": "0"}
    stack.up(artifact_dir, "--workers", "2", env=no_drain)
    command = ["switch", "--model-dir", str(artifact_v2_dir)]
    figures, result, took = switch_under_load(stack, one_record, command, True, no_drain)
    log = (stack.state_dir / "nginx" / "error.log").read_text().splitlines()
    resent = sum("[error]" in line and "upstream" in line for line in log)
    # The race is rare: without the directive, 1 of 3 runs here lost 12 requests as 502s.
    print(f"switch, no drain: {figures} cli {took:.2f} s, {resent} upstream errors resent")
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures.requests >= REQUESTS
    assert figures.failures == 0
    assert stack.served_version() == "2"


def test_negative_control_pointing_nginx_at_a_color_that_is_not_up_fails(
    stack: Stack, artifact_dir: Path, one_record: dict[str, Any]
) -> None:
    """The same measurement catches a bad switch: the symlink moved to a color nobody started,
    then the old color drained, as a switch without its gates would do."""
    stack.up(artifact_dir, "--workers", "1")
    load = Load(stack.url, one_record, 5_000, stack.state_dir.parent, CONNECTIONS).start()
    wait_until_busy(stack.state_dir / "nginx" / "access.log", load)
    point_symlink(_active_socket(stack), "green.sock")
    os.kill(stack.state()["colors"]["blue"]["pid"], signal.SIGTERM)
    figures = load.result()
    assert figures.non_2xx > 0
    assert figures.versions.get("none", 0) > 0, "nginx's own 502s carry no model version"


def _active_socket(stack: Stack) -> Path:
    return stack.socket_dir() / ACTIVE_SOCKET


def _nginx_pid(stack: Stack) -> int:
    return int((stack.state_dir / "nginx" / "nginx.pid").read_text())


def _rehash(artifact: Path) -> None:
    manifest = json.loads((artifact / MANIFEST_NAME).read_text())
    digest = hashlib.sha256((artifact / ONNX_FILE).read_bytes()).hexdigest()
    manifest["files"][ONNX_FILE] = digest
    (artifact / MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("tampered", "green exited before it was ready"),
        ("unloadable", "green exited before it was ready"),
        ("slow", "green not ready within 0 s"),
    ],
)
def test_unsafe_switch_is_refused_and_traffic_stays(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, tmp_path: Path,
    breakage: str, reason: str,
) -> None:  # fmt: skip
    stack.up(artifact_dir, "--workers", "1")
    candidate = Path(shutil.copytree(artifact_v2_dir, tmp_path / "candidate"))
    timeout = "60"
    if breakage == "tampered":  # the file no longer matches the manifest's sha256
        with (candidate / ONNX_FILE).open("ab") as handle:
            handle.write(b"tampered")
    elif breakage == "unloadable":  # hashes match, but no worker can load the model
        (candidate / ONNX_FILE).write_bytes(b"not an onnx graph")
        _rehash(candidate)
    else:  # a healthy artifact that cannot be ready in the time allowed
        timeout = "0"

    result = stack.run("switch", "--model-dir", str(candidate), "--ready-timeout", timeout)

    assert result.returncode == 1
    assert f"refused: {reason}" in result.stderr
    assert "traffic stays on blue" in result.stderr
    assert stack.served_version() == "1"
    assert os.readlink(_active_socket(stack)) == "blue.sock"
    assert stack.state()["active"] == "blue"
    greens = list(stack.state_dir.glob("green-*.log"))
    assert len(greens) == 1
    green_port = int(greens[0].stem.rsplit("-", 1)[1])
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{green_port}/health", timeout=2)


def test_status_reports_and_down_stops_everything(stack: Stack, artifact_dir: Path) -> None:
    stack.up(artifact_dir, "--workers", "1")
    status = json.loads(stack.run("status").stdout)
    assert status["active"] == "blue"
    assert status["colors"]["blue"]["running"] is True
    assert status["colors"]["green"] is None
    assert status["nginx_serves"]["version"] == "1"
    blue_pid = status["colors"]["blue"]["pid"]
    again = stack.run("up", "--model-dir", str(artifact_dir), "--port", str(free_port()))
    assert again.returncode == 1
    assert "already runs" in again.stderr

    result = stack.run("down")

    assert result.returncode == 0, result.stderr
    assert "blue: exited cleanly" in result.stdout
    assert not _pid_alive(blue_pid)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack.url}/version", timeout=2)
    assert json.loads(stack.run("status").stdout)["colors"]["blue"] is None


def test_rollback_without_a_previous_switch_is_refused(stack: Stack, artifact_dir: Path) -> None:
    stack.up(artifact_dir, "--workers", "1")
    result = stack.run("rollback")
    assert result.returncode == 1
    assert "nothing to roll back to" in result.stderr
    assert stack.served_version() == "1"
