"""`stack up` cleans up after itself whatever stops it (topology: tests/topology)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvajra.stack import commands, state
from mlvajra.stack.platform import ColorState
from tests.stack.fakes import PassingBackend


class EdgeFailsBackend(PassingBackend):
    """A color that passes every gate, and an nginx whose start fails with a plain OSError."""

    def start_edge(self, first: ColorState) -> None:
        # What a wheel without its templates raised: the color was left running, untracked.
        raise FileNotFoundError("templates/mlvajra.conf.template")

    def stop_edge(self) -> None:
        self.calls.append("stop edge")

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise AssertionError("nginx never started")


def test_up_stops_blue_when_nginx_fails_with_any_error(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = EdgeFailsBackend()
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)

    with pytest.raises(FileNotFoundError):
        commands.up(model_dir=artifact_dir, state_dir=tmp_path / "stack", ready_timeout=5)

    assert backend.calls == ["start blue", "stop blue", "stop edge"]
    assert not (tmp_path / "stack" / state.STATE_FILE).exists()
    assert not list(tmp_path.glob("mlvajra-stack-*")), "nor the runtime folder made as root"
