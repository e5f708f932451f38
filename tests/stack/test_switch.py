"""The switch's decisions when nginx does not confirm the new color (topology: tests/topology)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvajra.artifact import MANIFEST_NAME
from mlvajra.errors import StackError
from mlvajra.stack import state, switch
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState, Release


class UnconfirmedBackend:
    """Colors that pass every gate, and an nginx that keeps answering with the old color."""

    def __init__(self, old: ColorState) -> None:
        self.old = old
        self.calls: list[str] = []
        self.new: ColorState | None = None

    def start_color(self, color: str, release: Release) -> ColorState:
        self.new = ColorState.of(color, release, port=1)
        self.calls.append(f"start {color}")
        return self.new

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        if path == "/predict":
            return 200, b'{"predictions": [{"label": "Adelie"}]}'
        return 200, json.dumps({"version": state.version, "sha256": state.sha256}).encode()

    def color_running(self, state: ColorState) -> bool:
        return True

    def stop_color(self, state: ColorState) -> str:
        self.calls.append(f"stop {state.color}")
        return "exited cleanly"

    def point_edge_at(self, state: ColorState) -> None:
        self.calls.append(f"point {state.color}")

    def start_edge(self, first: ColorState) -> None:
        raise AssertionError("a switch never starts nginx")

    def stop_edge(self) -> None:
        raise AssertionError("a switch never stops nginx")

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        return 200, json.dumps({"version": self.old.version, "sha256": self.old.sha256}).encode()


def test_unconfirmed_switch_points_back_and_stops_the_new_color(
    artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((artifact_copy / MANIFEST_NAME).read_text())
    old_release = Release(
        model_dir="/models/old",
        model_format="onnx",
        version="1",
        sha256=manifest["files"]["model.onnx"],
    )
    old = ColorState.of("blue", old_release, port=2)
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
    assert saved.previous_model_dir is None


class InterruptedBackend(UnconfirmedBackend):
    """The operator presses Ctrl-C while the switch polls nginx."""

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise KeyboardInterrupt


def test_an_interrupted_switch_also_points_back_and_stops_the_new_color(
    artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((artifact_copy / MANIFEST_NAME).read_text())
    sha256 = manifest["files"]["model.onnx"]
    old_release = Release(model_dir="/models/old", model_format="onnx", version="1", sha256=sha256)
    old = ColorState.of("blue", old_release, port=2)
    state.StackState(
        backend="local", options=EdgeOptions(body_limit=1 << 20), colors={"blue": old}
    ).save(tmp_path)
    backend = InterruptedBackend(old)
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)

    with pytest.raises(KeyboardInterrupt):
        switch.switch(tmp_path, artifact_copy, ready_timeout=5)

    assert backend.calls == ["start green", "point green", "point blue", "stop green"]
    assert state.StackState.load(tmp_path).active == "blue"
