"""Rendering the nginx templates: every placeholder filled, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.edge import TemplateError, render, upstream_block, write_atomically


def test_render_fills_placeholders_and_leaves_nginx_variables() -> None:
    text = "listen ${MLVAJRA_LISTEN}; set $x $request_id;"
    assert render(text, {"MLVAJRA_LISTEN": "8080"}) == "listen 8080; set $x $request_id;"


def test_render_refuses_a_missing_value() -> None:
    with pytest.raises(TemplateError, match="MLVAJRA_RATE"):
        render("rate=${MLVAJRA_RATE};", {})


def test_upstream_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "active.conf"
    write_atomically(path, upstream_block("127.0.0.1", 1111))
    write_atomically(path, upstream_block("127.0.0.1", 2222))
    assert "127.0.0.1:2222;" in path.read_text()
    assert "1111" not in path.read_text()
    assert [entry.name for entry in tmp_path.iterdir()] == ["active.conf"], "no temp file left"
