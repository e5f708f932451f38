"""Rendering the nginx templates: every placeholder filled, or a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlvajra.errors import StackError
from mlvajra.stack.nginx import MAX_SOCKET_PATH, color_socket, point_symlink, render


def test_render_fills_placeholders_and_leaves_nginx_variables() -> None:
    text = "listen ${MLVAJRA_LISTEN}; set $x $request_id;"
    assert render(text, {"MLVAJRA_LISTEN": "8080"}) == "listen 8080; set $x $request_id;"


def test_render_refuses_a_missing_value() -> None:
    with pytest.raises(StackError, match="MLVAJRA_RATE"):
        render("rate=${MLVAJRA_RATE};", {})


def test_active_symlink_is_replaced_whole(tmp_path: Path) -> None:
    link = tmp_path / "active.sock"
    point_symlink(link, "blue.sock")
    point_symlink(link, "green.sock")
    assert os.readlink(link) == "green.sock", "relative: the folder may move or be mounted"
    assert [entry.name for entry in tmp_path.iterdir()] == ["active.sock"], "no temp link left"


def test_a_socket_path_linux_cannot_bind_is_refused_by_name(tmp_path: Path) -> None:
    assert color_socket(tmp_path, "blue") == tmp_path / "blue.sock"
    deep = tmp_path / ("d" * (MAX_SOCKET_PATH - len(str(tmp_path))))
    with pytest.raises(StackError, match="longer than 107 bytes"):
        color_socket(deep, "blue")
