"""Started as root, `stack up` refuses, in one line and before starting anything, what its
unprivileged workers could not run with (topology: tests/topology/test_stack_user.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlvajra.errors import ConfigError, StackError
from mlvajra.stack import commands, state
from mlvajra.stack.local import LocalBackend
from mlvajra.stack.nginx import EdgeOptions, render_local
from mlvajra.stack.platform import ColorState, Release
from mlvajra.stack.runtime import Runtime
from mlvajra.stack.switch import release_of
from tests.fixtures import NOBODY, root_workers_env
from tests.stack.fakes import PassingBackend

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="what a stack started as root does")


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> PassingBackend:
    fake = PassingBackend()
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: fake)
    return fake


@as_root
def test_an_unknown_stack_user_is_one_line_and_starts_nothing(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: PassingBackend
) -> None:
    monkeypatch.setenv("MLVAJRA_STACK_USER", "no-such-user")
    with pytest.raises(ConfigError, match="MLVAJRA_STACK_USER: no user 'no-such-user'"):
        commands.up(model_dir=artifact_dir, state_dir=tmp_path / "stack", ready_timeout=5)
    assert backend.calls == []
    assert not list(tmp_path.glob("mlvajra-stack-*"))


@pytest.mark.skipif(not root_workers_env(), reason="nobody can read this Python")
def test_a_python_the_workers_cannot_read_is_one_line_and_starts_nothing(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: PassingBackend
) -> None:
    monkeypatch.delenv("MLVAJRA_STACK_USER")  # the default: nobody
    with pytest.raises(StackError, match=r"run as nobody, who cannot read /\S+/os\.py"):
        commands.up(model_dir=artifact_dir, state_dir=tmp_path / "stack", ready_timeout=5)
    assert backend.calls == []
    assert not list(tmp_path.glob("mlvajra-stack-*"))


@as_root
def test_a_feedback_dir_the_workers_cannot_write_is_refused_before_the_color_starts(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under pytest's private (0700) tmp folders: root could write there, `nobody` cannot."""
    feedback = tmp_path / "feedback"
    feedback.mkdir()
    monkeypatch.setenv("MLVAJRA_STATE_DIR", str(feedback))
    folder = tmp_path / "runtime"
    folder.mkdir()
    runtime = Runtime(directory=str(folder), user="nobody", group="nogroup", uid=NOBODY.pw_uid,
                      gid=NOBODY.pw_gid)  # fmt: skip
    (tmp_path / "stack").mkdir()
    local = LocalBackend(tmp_path / "stack", EdgeOptions(body_limit=1 << 20), 1, runtime)
    release: Release = release_of(artifact_dir)[0]
    try:
        with pytest.raises(StackError, match=f"MLVAJRA_STATE_DIR {feedback}: .* run as nobody"):
            local.start_color("blue", release)
    finally:
        started = [local.stop_color(color) for color in _started(local, release)]
    assert started == [], "no color started"


def _started(local: LocalBackend, release: Release) -> list[ColorState]:
    """The colors `local` started, had the check let one through."""
    return [ColorState.of("blue", release, 1, pid=pid) for pid in local._children]


def test_nginx_workers_get_a_user_and_temp_folder_only_when_given(tmp_path: Path) -> None:
    options = EdgeOptions(body_limit=1 << 20)
    plain = render_local(tmp_path / "plain", options, tmp_path / "active.sock").read_text()
    assert "\nuser " not in plain
    assert f"client_body_temp_path {tmp_path / 'plain'}/client_body_temp;" in plain
    temp = tmp_path / "runtime"
    temp.mkdir()
    conf = render_local(
        tmp_path / "root", options, tmp_path / "active.sock", "nobody nogroup", temp
    )
    assert "\nuser nobody nogroup;\n" in conf.read_text()
    assert f"client_body_temp_path {temp}/client_body_temp;" in conf.read_text()
    assert (temp / "proxy_temp").is_dir()
