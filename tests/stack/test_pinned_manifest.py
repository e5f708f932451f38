"""Each release records its manifest's sha256: colors start with it pinned, and a rollback to a
folder whose manifest was rewritten since is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvajra.artifact import MANIFEST_NAME
from mlvajra.errors import StackError
from mlvajra.folder import sha256_file
from mlvajra.stack import state, switch
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState
from mlvajra.stack.switch import release_of
from tests.stack.fakes import PassingBackend


class ConfirmingBackend(PassingBackend):
    """nginx answers with whatever color the symlink names, on the stack's own listener."""

    def control_request(self, path: str) -> tuple[int, bytes]:
        assert self.pointed is not None
        body = {"version": self.pointed.version, "sha256": self.pointed.sha256}
        return 200, json.dumps(body).encode()


def test_a_rollback_to_a_rewritten_manifest_is_refused(
    artifact_dir: Path, artifact_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = release_of(artifact_copy)[0]
    assert first.manifest_sha256 == sha256_file(artifact_copy / MANIFEST_NAME)
    state_dir = tmp_path / "stack"
    state_dir.mkdir()
    blue = ColorState.of("blue", first, port=2)
    assert blue.manifest_sha256 == first.manifest_sha256  # what `stack status` shows
    state.StackState(
        backend="local", options=EdgeOptions(body_limit=1 << 20), colors={"blue": blue}
    ).save(state_dir)
    backend = ConfirmingBackend()
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)
    switch.switch(state_dir, artifact_dir, ready_timeout=5, say=lambda line: None)
    # A rewritten name or version keeps the model file's sha256: only the pin tells.
    manifest = json.loads((artifact_copy / MANIFEST_NAME).read_text())
    manifest["version"] = "1-REWRITTEN"
    (artifact_copy / MANIFEST_NAME).write_text(json.dumps(manifest))

    with pytest.raises(StackError, match="its manifest's sha256 is now"):
        switch.switch(
            state_dir, artifact_copy, ready_timeout=5, say=lambda line: None, rollback_to=first
        )
    assert backend.calls[-1] == "stop blue"  # nothing started for the refused rollback
