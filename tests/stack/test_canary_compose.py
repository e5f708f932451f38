"""A canary through the compose backend's commands, recorded by a docker stand-in (no engine)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mlvajra.stack import canary, state
from mlvajra.stack.analysis import Thresholds
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState
from mlvajra.stack.switch import release_of
from tests.stack.fakes import manifest_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def docker_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the stand-in writes each docker command down; it is MLVAJRA_DOCKER."""
    program = tmp_path / "docker"
    stand_in = Path(__file__).with_name("fake_docker.py")
    program.write_text(f'#!/bin/sh\nexec {sys.executable} {stand_in} "$@"\n')
    program.chmod(0o755)
    (tmp_path / "sockets").mkdir()
    for name, value in {
        "MLVAJRA_DOCKER": str(program),
        "FAKE_DOCKER_LOG": str(tmp_path / "docker.log"),
        "FAKE_SOCKETS": str(tmp_path / "sockets"),
        "FAKE_MODELS": str(tmp_path / "models"),
        "FAKE_PREDICTIONS": "150",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(canary, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(canary, "QUIET_SECONDS", 0.01)
    return tmp_path / "docker.log"


def test_compose_canary_moves_slots_from_inside_the_colors_then_switches(
    artifact_dir: Path, tmp_path: Path, docker_log: Path
) -> None:
    models = tmp_path / "models"
    one = manifest_folder(artifact_dir, models / "penguins" / "1")
    two = manifest_folder(artifact_dir, models / "penguins" / "2", version="2")
    blue = ColorState.of("blue", release_of(one)[0], port=8000)
    state.StackState(
        backend="compose",
        options=EdgeOptions(body_limit=1 << 20),
        models_root=str(models),
        project_dir=str(ROOT),
        colors={"blue": blue},
    ).save(tmp_path)
    sockets = tmp_path / "sockets"
    seen: list[list[str]] = []

    def say(line: str) -> None:
        if line.startswith("weight") and "takes" in line:  # slots as nginx sees them now
            seen.append([os.readlink(sockets / f"slot{i:02d}.sock") for i in range(20)])

    assert canary.canary(tmp_path, two, [10, 50], 0.01, Thresholds(), 5, say)

    assert seen == [
        ["green.sock"] * 2 + ["blue.sock"] * 18,
        ["green.sock"] * 10 + ["blue.sock"] * 10,
    ], "slot00 upward: a client moved to the canary stays there"
    assert [os.readlink(sockets / f"slot{i:02d}.sock") for i in range(20)] == ["green.sock"] * 20
    assert os.readlink(sockets / "active.sock") == "green.sock"
    commands = [
        " ".join(args[args.index("-f") + 2 :])
        for args in map(json.loads, docker_log.read_text().splitlines())
    ]
    renames = [
        command.split(" python -c ")[1].split()[-4:] for command in commands if " -c " in command
    ]
    assert renames == [
        ["/run/mlvajra", "blue.sock", "green.sock", "2"],
        ["/run/mlvajra", "blue.sock", "green.sock", "10"],
        ["/run/mlvajra", "green.sock", "green.sock", "0"],
    ]
    assert all(
        command.startswith("exec -T green python") for command in commands if " -c " in command
    )
    assert commands[0] == "up --detach --no-deps --force-recreate green"
    assert (
        "exec -T green python -m mlvajra.serving.probe /metrics --method GET --timeout 5"
        in commands
    )
    assert (
        "exec -T blue python -m mlvajra.serving.probe /metrics --method GET --timeout 5" in commands
    )
    assert any(command.startswith("exec -T nginx curl") for command in commands), "confirmed"
    assert commands[-2:] == ["stop blue", "ps --all --format json blue"]
    saved = state.StackState.load(tmp_path)
    assert saved.active == "green"
    assert saved.split is not None
    assert [item.canary_share for item in saved.split.analyses] == [0.5, 0.5]
    assert [(item.action, item.outcome) for item in saved.releases] == [("canary", "switched")]
