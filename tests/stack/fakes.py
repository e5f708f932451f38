"""Small real stand-ins for a stack backend and artifact folders (topology runs real ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlvajra.artifact import MANIFEST_NAME
from mlvajra.stack.platform import ColorState, Release


def manifest_folder(source: Path, target: Path, **changes: Any) -> Path:
    """`target` holding only `source`'s manifest with `changes` (the stack reads nothing else)."""
    manifest = json.loads((source / MANIFEST_NAME).read_text())
    manifest.update(changes)
    target.mkdir(parents=True)
    (target / MANIFEST_NAME).write_text(json.dumps(manifest))
    return target


class PassingBackend:
    """Colors that pass every gate; nginx answers with whatever color the symlink names."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.pointed: ColorState | None = None

    def start_color(self, color: str, release: Release) -> ColorState:
        self.calls.append(f"start {color}")
        return ColorState.of(color, release, port=1)

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
        self.pointed = state

    def split_edge(self, stable: ColorState, canary: ColorState, canary_slots: int) -> None:
        self.calls.append(f"split {canary.color} {canary_slots}")
        self.pointed = stable

    def start_edge(self, first: ColorState) -> None:
        self.calls.append(f"edge {first.color}")
        self.pointed = first

    def stop_edge(self) -> None:
        self.calls.append("stop edge")

    def edge_request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise AssertionError("the stack confirms through its own listener, not the clients'")

    def control_request(self, path: str) -> tuple[int, bytes]:
        assert self.pointed is not None
        return self.color_request(self.pointed, "GET", path)
