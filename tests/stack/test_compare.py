"""`stack compare` against a tiny real HTTP server standing in for a color."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from mlvajra.stack.compare import NO_MONITORING, compare_table, read_quality, report
from mlvajra.stack.local import LocalBackend
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState, Release
from tests.stack.test_analysis import exposition

QUALITY = {
    "model": {"name": "penguins", "version": "2"},
    "metric": {"name": "f1_macro", "heldout": 0.9834, "live": 0.9512, "labels": 412},
}


class Color(BaseHTTPRequestHandler):
    """Answers GET with `routes[path]` (status, body); 404 for any other path."""

    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b'{"error": {"code": "not_found"}}'))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def color(tmp_path: Path) -> Iterator[tuple[LocalBackend, ColorState, type[Color]]]:
    handler = type("ThisColor", (Color,), {"routes": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    release = Release(name="penguins", model_dir="/m", model_format="onnx", version="2", sha256="s")
    state = ColorState.of("green", release, port=server.server_address[1])
    yield LocalBackend(tmp_path, EdgeOptions(body_limit=1 << 20), None), state, handler
    server.shutdown()
    server.server_close()


def test_quality_is_parsed_and_shown_beside_the_metrics(
    color: tuple[LocalBackend, ColorState, type[Color]],
) -> None:
    backend, state, handler = color
    answers = [("/predict", "200", 0.003, 95), ("/predict", "422", 0.001, 5)]
    handler.routes["/metrics"] = (200, exposition(answers).encode())
    handler.routes["/quality"] = (200, json.dumps(QUALITY).encode())

    figures = report(backend, state, "B")

    assert figures.quality is not None
    assert figures.quality.metric.live == pytest.approx(0.9512)
    assert figures.live_metric == "f1_macro 0.9512 on 412 labels (held-out 0.9834)"
    assert (figures.requests, figures.invalid) == (100, 0.05)
    table = compare_table([figures, figures.model_copy(update={"color": "blue", "role": "A"})])
    lines = table.splitlines()
    assert lines[0].split() == ["green", "(B)", "blue", "(A)"]
    assert lines[2].split() == ["requests", "100", "100"]
    assert lines[4].split() == ["422", "5.00%", "5.00%"]
    assert lines[6].startswith("live metric  f1_macro 0.9512 on 412 labels")


def test_a_color_without_quality_says_monitoring_is_not_available(
    color: tuple[LocalBackend, ColorState, type[Color]],
) -> None:
    backend, state, handler = color
    handler.routes["/metrics"] = (200, exposition([]).encode())

    figures = report(backend, state, "B")

    assert figures.live_metric == NO_MONITORING == "no live metric (monitoring not available)"
    assert (figures.requests, figures.errors, figures.p99_ms) == (0, None, None)


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ((200, json.dumps({**QUALITY, "metric": {**QUALITY["metric"], "live": None,
          "labels": 0}}).encode()), "f1_macro: no labels yet (held-out 0.9834)"),
        ((200, b'{"model": {}}'), "no live metric (unreadable /quality: "),
        ((503, b"{}"), "no live metric (/quality answered 503)"),
    ],
)  # fmt: skip
def test_quality_without_labels_or_unreadable_is_one_line(
    color: tuple[LocalBackend, ColorState, type[Color]], answer: tuple[int, bytes], line: str
) -> None:
    backend, state, handler = color
    handler.routes["/quality"] = answer
    assert read_quality(backend, state)[1].startswith(line)
