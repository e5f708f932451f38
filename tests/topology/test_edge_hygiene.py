"""HTTP hygiene through real nginx and direct to gunicorn: headers, nginx's own errors, HEAD."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.topology.processes import Gunicorn, Nginx

pytestmark = pytest.mark.topology


@pytest.fixture(scope="module")
def color(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One real gunicorn color, reached directly and through each test's nginx."""
    with Gunicorn(artifact_dir, tmp_path_factory.mktemp("color"), workers=1, unix_socket=True) as s:
        yield s


@pytest.fixture(scope="module")
def edge(color: Gunicorn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """nginx in front of the color."""
    with Nginx(tmp_path_factory.mktemp("edge"), color.unix_socket) as nginx:
        yield nginx


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; status, headers (lower case) and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
        (b"TRACE / HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n", 405, "method_not_allowed"),
        (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: edge\r\n\r\n", 414, "uri_too_long"),
        (
            b"POST /predict HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "not_implemented",
        ),
    ],
    ids=["400", "405", "414", "501"],
)
def test_nginx_own_errors_are_in_the_envelope(
    edge: Nginx, request_bytes: bytes, status: int, code: str
) -> None:
    answered, headers, body = _raw(edge.options.port, request_bytes)
    assert answered == status, body[:200]
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert error["request_id"] == headers["x-request-id"]


def test_every_answer_through_nginx_says_nosniff_once(edge: Nginx) -> None:
    with httpx.Client(base_url=edge.url, timeout=5) as client:
        for path in ("/health", "/version", "/metrics", "/nowhere"):
            response = client.get(path)
            assert response.headers.get_list("x-content-type-options") == ["nosniff"], path


@pytest.mark.parametrize("base", ["direct", "edge"])
def test_host_is_never_reflected_and_head_probes_answer(
    color: Gunicorn, edge: Nginx, base: str
) -> None:
    url = color.url if base == "direct" else edge.url
    with httpx.Client(base_url=url, timeout=5) as client:
        for path in ("/health/", "/docs/", "/version/"):
            response = client.get(path, headers={"Host": "evil.example"})
            assert not response.is_redirect, (path, response.headers)
            assert "evil.example" not in response.text
        for path in ("/health", "/ready"):
            response = client.head(path)
            assert response.status_code == 200
            assert response.content == b""
            assert response.headers["x-content-type-options"] == "nosniff"


def test_direct_answers_name_no_server(color: Gunicorn) -> None:
    for path in ("/health", "/nowhere"):
        response = httpx.get(f"{color.url}{path}", timeout=5)
        assert "server" not in response.headers, response.headers
