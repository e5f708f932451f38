"""Rendering the nginx templates: every placeholder filled, or a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlvajra.errors import StackError
from mlvajra.stack.nginx import (
    MAX_SOCKET_PATH,
    EdgeOptions,
    check_rate,
    color_socket,
    point_symlink,
    render,
    render_local,
)


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


def test_the_rate_limit_is_off_unless_a_rate_is_given(tmp_path: Path) -> None:
    render_local(tmp_path / "off", EdgeOptions(body_limit=1 << 20), tmp_path / "active.sock")
    render_local(
        tmp_path / "on", EdgeOptions(rate="1000r/s", body_limit=1 << 20), tmp_path / "active.sock"
    )
    off = (tmp_path / "off" / "mlvajra.conf").read_text()
    on = (tmp_path / "on" / "mlvajra.conf").read_text()
    # nginx counts no request whose key is empty: "off" maps every client to the empty key.
    assert 'map "off" $mlvajra_rate_key' in off
    assert 'map "on" $mlvajra_rate_key' in on
    assert "on $binary_remote_addr;" in on
    assert "rate=1000r/s;" in on


@pytest.mark.parametrize("rate", ["1000r/s", "600r/m", None])
def test_rates_nginx_accepts_pass(rate: str | None) -> None:
    assert check_rate(rate) == rate


@pytest.mark.parametrize("rate", ["100", "0r/s", "1000 r/s", "10r/h", "off"])
def test_a_rate_nginx_would_refuse_is_refused_by_name(rate: str) -> None:
    with pytest.raises(StackError, match=f"--rate '{rate}': give requests per second or minute"):
        check_rate(rate)
