"""The release history: rollback steps back through it, `stack history` lists it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvajra.errors import StackError
from mlvajra.stack import commands, state
from tests.stack.fakes import PassingBackend, manifest_folder


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> PassingBackend:
    """Every stack command of the test talks to the same fake backend."""
    fake = PassingBackend()
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: fake)
    return fake


def _version(source: Path, root: Path, version: str, **changes: object) -> Path:
    """penguins `version` with its own file hashes (the manifest is all the stack reads here)."""
    files = {"model.onnx": version * 64, "model.joblib": "f" * 64}
    return manifest_folder(source, root / version, version=version, files=files, **changes)


def _outcomes(state_dir: Path) -> list[tuple[str, str, str, str]]:
    history = state.StackState.load(state_dir).releases
    return [(r.action, r.color, r.release.version, r.outcome) for r in history]


def test_rollback_steps_back_one_release_at_a_time_and_stops_at_the_first(
    artifact_dir: Path, tmp_path: Path, backend: PassingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "stack"
    two, three = _version(artifact_dir, tmp_path, "2"), _version(artifact_dir, tmp_path, "3")
    commands.up(model_dir=artifact_dir, state_dir=stack, ready_timeout=5)
    commands.switch_command(model_dir=two, state_dir=stack, ready_timeout=5)
    commands.switch_command(model_dir=three, state_dir=stack, ready_timeout=5)

    commands.rollback(state_dir=stack, ready_timeout=5)
    green = state.StackState.load(stack).colors["green"]
    assert green is not None
    assert green.version == "2"
    commands.rollback(state_dir=stack, ready_timeout=5)
    with pytest.raises(StackError) as refused:
        commands.rollback(state_dir=stack, ready_timeout=5)

    saved = state.StackState.load(stack)
    assert saved.active == "blue"
    assert saved.colors["blue"] is not None
    assert saved.colors["blue"].version == "1"
    sha256 = saved.releases[0].release.sha256
    assert str(refused.value) == (
        f"nothing to roll back to: penguins 1 (sha256 {sha256}) is the first release since stack up"
    )
    assert _outcomes(stack) == [
        ("up", "blue", "1", "up"),
        ("switch", "green", "2", "switched"),
        ("switch", "blue", "3", "switched"),
        ("rollback", "green", "2", "rolled back"),
        ("rollback", "blue", "1", "rolled back"),
    ]
    output = capsys.readouterr().out
    assert f"from green: penguins 2 (sha256 {'2' * 64})" in output
    assert f"to blue: penguins 1 (sha256 {sha256})" in output


def test_a_switch_after_a_rollback_rolls_back_to_the_release_rolled_back_to(
    artifact_dir: Path, tmp_path: Path, backend: PassingBackend
) -> None:
    stack = tmp_path / "stack"
    two, three = _version(artifact_dir, tmp_path, "2"), _version(artifact_dir, tmp_path, "3")
    commands.up(model_dir=artifact_dir, state_dir=stack, ready_timeout=5)
    commands.switch_command(model_dir=two, state_dir=stack, ready_timeout=5)
    commands.rollback(state_dir=stack, ready_timeout=5)  # back on 1; 2 is off the list
    commands.switch_command(model_dir=three, state_dir=stack, ready_timeout=5)

    commands.rollback(state_dir=stack, ready_timeout=5)

    assert _outcomes(stack)[-1] == ("rollback", "blue", "1", "rolled back")


def test_refused_switches_are_listed_and_never_become_rollback_targets(
    artifact_dir: Path, tmp_path: Path, backend: PassingBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "stack"
    houses = _version(artifact_dir, tmp_path, "7", name="houses", inputs=[
        {"name": "rooms", "type": "integer", "nullable": False}
    ])  # fmt: skip
    commands.up(model_dir=artifact_dir, state_dir=stack, ready_timeout=5)
    with pytest.raises(StackError, match="refused: houses 7 would break clients of penguins 1"):
        commands.switch_command(model_dir=houses, state_dir=stack, ready_timeout=5)
    assert backend.calls == ["start blue", "edge blue"], "refused before starting anything"
    with pytest.raises(StackError, match="nothing to roll back to"):
        commands.rollback(state_dir=stack, ready_timeout=5)
    capsys.readouterr()

    commands.history(state_dir=stack)
    table = capsys.readouterr().out.splitlines()
    commands.history(state_dir=stack, as_json=True)
    listed = json.loads(capsys.readouterr().out)

    assert table[0].split() == ["time", "action", "color", "name", "version", "sha256", "outcome"]
    assert table[1].startswith("* ")
    assert table[1].split()[2:6] == ["up", "blue", "penguins", "1"]
    assert table[2].split()[1:7] == ["switch", "green", "houses", "7", "7" * 12, "refused:"]
    assert "input 'island' removed" in table[2]
    assert [record["outcome"] for record in listed] == ["up", "refused"]
    assert listed[1]["release"]["sha256"] == "7" * 64


def test_rollback_refuses_a_folder_that_no_longer_holds_the_recorded_release(
    artifact_dir: Path, tmp_path: Path, backend: PassingBackend
) -> None:
    stack = tmp_path / "stack"
    one, two = _version(artifact_dir, tmp_path, "1"), _version(artifact_dir, tmp_path, "2")
    commands.up(model_dir=one, state_dir=stack, ready_timeout=5)
    commands.switch_command(model_dir=two, state_dir=stack, ready_timeout=5)
    manifest = json.loads((one / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = "e" * 64
    (one / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(StackError, match=f"no longer holds penguins 1 .*now {'e' * 64}"):
        commands.rollback(state_dir=stack, ready_timeout=5)

    assert _outcomes(stack)[-1] == ("rollback", "blue", "1", "refused")
    assert state.StackState.load(stack).active == "green"
