"""The switch's decisions when nginx does not confirm the new color (topology: tests/topology)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvajra.artifact import MANIFEST_NAME
from mlvajra.errors import StackError
from mlvajra.stack import state, switch
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState
from mlvajra.stack.switch import release_of
from tests.stack.fakes import PassingBackend


class UnconfirmedBackend(PassingBackend):
    """Colors that pass every gate, and an nginx that keeps answering with the old color."""

    def __init__(self, old: ColorState) -> None:
        super().__init__()
        self.old = old

    def control_request(self, path: str) -> tuple[int, bytes]:
        return 200, json.dumps({"version": self.old.version, "sha256": self.old.sha256}).encode()


def test_unconfirmed_switch_points_back_and_stops_the_new_color(
    artifact_dir: Path, artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = ColorState.of("blue", release_of(artifact_dir)[0], port=2)
    manifest = json.loads((artifact_copy / MANIFEST_NAME).read_text())
    manifest["version"] = "2"
    (artifact_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    saved_state = state.StackState(
        backend="local",
        options=EdgeOptions(body_limit=1 << 20),
        colors={"blue": old, "green": None},
    )
    saved_state.save(tmp_path)
    backend = UnconfirmedBackend(old)
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)
    monkeypatch.setattr(switch, "CONFIRM_SECONDS", 0.2)

    with pytest.raises(StackError, match="refused: nginx does not serve version 2") as refused:
        switch.switch(tmp_path, artifact_copy, ready_timeout=5)

    assert "traffic stays on blue" in str(refused.value)
    assert backend.calls == ["start green", "point green", "point blue", "stop green"]
    saved = state.StackState.load(tmp_path)
    assert saved.active == "blue"
    assert saved.colors["blue"] == old
    assert [(record.action, record.outcome) for record in saved.releases] == [("switch", "refused")]
    assert "nginx does not serve version 2" in (saved.releases[0].reason or "")


class InterruptedBackend(UnconfirmedBackend):
    """The operator presses Ctrl-C while the switch polls nginx."""

    def control_request(self, path: str) -> tuple[int, bytes]:
        raise KeyboardInterrupt


def test_an_interrupted_switch_also_points_back_and_stops_the_new_color(
    artifact_dir: Path, artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = ColorState.of("blue", release_of(artifact_dir)[0], port=2)
    options = EdgeOptions(body_limit=1 << 20)
    state.StackState(backend="local", options=options, colors={"blue": old}).save(tmp_path)
    backend = InterruptedBackend(old)
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)

    with pytest.raises(KeyboardInterrupt):
        switch.switch(tmp_path, artifact_copy, ready_timeout=5)

    assert backend.calls == ["start green", "point green", "point blue", "stop green"]
    saved = state.StackState.load(tmp_path)
    assert saved.active == "blue"
    assert [record.outcome for record in saved.releases] == ["interrupted"]
