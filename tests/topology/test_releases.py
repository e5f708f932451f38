"""Releases for real: an opted-in client rate limit, schema checks and the release history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlvajra.artifact import MANIFEST_NAME
from tests.topology.processes import Load, wait_until_busy
from tests.topology.stacks import CONNECTIONS, Stack

pytestmark = pytest.mark.topology

# Another loopback address: a client the limit keeps apart from wrk's 127.0.0.1.
OTHER_CLIENT = httpx.HTTPTransport(local_address="127.0.0.2")


def _version_from(stack: Stack) -> str:
    with httpx.Client(transport=OTHER_CLIENT, timeout=10) as client:
        version: str = client.get(f"{stack.url}/version").json()["version"]
        return version


def test_an_enabled_rate_limit_answers_429_and_the_switch_still_passes_under_load(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, one_record: dict[str, Any]
) -> None:
    """wrk from one address far above `--rate`: most of its requests get 429, yet the switch's
    confirmation through nginx (its own listener) is never limited. At 1 r/s a confirmation
    through the clients' listener is refused ("nginx does not serve version 2 within 5 s")."""
    stack.up(artifact_dir, "--workers", "1", "--rate", "1r/s", "--burst", "1")
    # Bounded by time, not count: 429s are cheap, a count would be spent before the switch ends.
    load = Load(stack.url, one_record, 10**8, stack.state_dir.parent, CONNECTIONS, seconds=60)
    wait_until_busy(stack.state_dir / "nginx" / "access.log", load.start())
    limited = [httpx.get(f"{stack.url}/predict", timeout=10) for _ in range(20)]

    result = stack.run("switch", "--model-dir", str(artifact_v2_dir))

    assert load.running(), "the load ended before the switch did: the test proves nothing"
    figures = load.stop()
    print(f"switch with --rate 1r/s: {figures}\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures.non_2xx > 0.9 * figures.requests, "the limit applies when enabled"
    assert figures.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    answer = next(response for response in limited if response.status_code == 429)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "rate_limited"
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    assert _version_from(stack) == "2", "per address: another client is served"


def test_schema_change_is_refused_unless_allowed_and_history_lists_every_attempt(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, tmp_path: Path
) -> None:
    stack.up(artifact_dir, "--workers", "1")
    candidate = Path(shutil.copytree(artifact_v2_dir, tmp_path / "penguins-3"))
    manifest = json.loads((candidate / MANIFEST_NAME).read_text())
    strict = next(spec for spec in manifest["inputs"] if spec["nullable"])
    strict["nullable"] = False  # current clients may send null there: they would get 422
    manifest["version"] = "3"
    (candidate / MANIFEST_NAME).write_text(json.dumps(manifest))
    old_sha256 = json.loads((artifact_dir / MANIFEST_NAME).read_text())["files"]["model.onnx"]
    new_sha256 = manifest["files"]["model.onnx"]

    refused = stack.run("switch", "--model-dir", str(candidate))

    assert refused.returncode == 1
    assert f"from blue: penguins 1 (sha256 {old_sha256})" in refused.stdout
    assert f"to green: penguins 3 (sha256 {new_sha256})" in refused.stdout
    assert refused.stderr.startswith(
        f"error: refused: penguins 3 would break clients of penguins 1 (sha256 {old_sha256}): "
        f"input '{strict['name']}' no longer accepts null; pass --allow-schema-change"
    ), refused.stderr
    assert not list(stack.state_dir.glob("green-*.log")), "refused before starting green"

    allowed = stack.run("switch", "--model-dir", str(candidate), "--allow-schema-change")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert stack.served_version() == "3"
    back = stack.run("rollback", "--allow-schema-change")
    assert back.returncode == 0, back.stdout + back.stderr
    assert stack.served_version() == "1"
    again = stack.run("rollback")
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1, "one line"
    assert f"nothing to roll back to: penguins 1 (sha256 {old_sha256}) is the first" in again.stderr

    table = stack.run("history").stdout.splitlines()
    assert [line.split()[-1] if "refused" not in line else "refused" for line in table] == [
        "outcome", "up", "refused", "switched", "back"
    ]  # fmt: skip
    serving = table[-1].split()
    assert serving[:1] + serving[2:7] == ["*", "rollback", "blue", "penguins", "1", old_sha256[:12]]
    assert stack.served_version() == "1"
