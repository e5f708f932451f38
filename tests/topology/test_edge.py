"""nginx in front of one color: its own errors in the JSON envelope, request ids, what it hides."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlvajra.config import Settings
from mlvajra.stack.nginx import SITE_TEMPLATE, TEMPLATES
from tests.topology.processes import Gunicorn, Nginx

pytestmark = pytest.mark.topology

MAX_INSTANCES = 10


@pytest.fixture(scope="module")
def color(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One color with a small MLVAJRA_MAX_INSTANCES, shared by this module's tests."""
    env = {"MLVAJRA_MAX_INSTANCES": str(MAX_INSTANCES)}
    workdir = tmp_path_factory.mktemp("color")
    with Gunicorn(artifact_dir, workdir, workers=1, env=env, unix_socket=True) as server:
        yield server


def _body_limit(artifact_dir: Path) -> int:
    return Settings(model_dir=artifact_dir, max_instances=MAX_INSTANCES).body_limit


def _assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["details"] == []
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    # nginx answered, not the service: the service always adds its model version.
    assert "x-model-version" not in response.headers
    return body


def test_nginx_refuses_a_body_above_max_instances_records(
    color: Gunicorn, tmp_path: Path, one_record: dict[str, Any], artifact_dir: Path
) -> None:
    padding = "x" * _body_limit(artifact_dir)
    with Nginx(tmp_path, color.unix_socket, body_limit=_body_limit(artifact_dir)) as nginx:
        too_big = {"instances": [one_record["instances"][0]], "padding": padding}
        response = httpx.post(f"{nginx.url}/predict", json=too_big, timeout=10)
        _assert_envelope(response, 413, "payload_too_large")
        # Within nginx's limit but over the service's instance count: the service's own 413.
        many = {"instances": one_record["instances"] * (MAX_INSTANCES + 1)}
        response = httpx.post(f"{nginx.url}/predict", json=many, timeout=10)
        assert response.status_code == 413
        assert response.headers["x-model-version"] == "1"


def test_nginx_rate_limits_per_client_with_429(color: Gunicorn, tmp_path: Path) -> None:
    with (
        Nginx(tmp_path, color.unix_socket, rate="1r/s", burst=1) as nginx,
        httpx.Client(base_url=nginx.url, timeout=10) as client,
    ):
        statuses = [client.get("/health") for _ in range(5)]
    assert statuses[0].status_code == 200
    limited = [response for response in statuses if response.status_code == 429]
    assert limited, [response.status_code for response in statuses]
    body = _assert_envelope(limited[0], 429, "rate_limited")
    assert "too many requests" in body["error"]["message"]


def test_nginx_answers_502_when_the_color_is_down(tmp_path: Path) -> None:
    with Nginx(tmp_path, tmp_path / "nobody.sock") as nginx:
        response = httpx.get(f"{nginx.url}/version", timeout=10)
    _assert_envelope(response, 502, "bad_gateway")


def test_nginx_answers_504_when_the_color_hangs(tmp_path: Path) -> None:
    # The kernel accepts the connection into the backlog; nobody ever answers it.
    with socket.socket(socket.AF_UNIX) as silent:
        silent.bind(str(tmp_path / "silent.sock"))
        silent.listen(8)
        with Nginx(tmp_path, tmp_path / "silent.sock", proxy_timeout="1s") as nginx:
            response = httpx.get(f"{nginx.url}/version", timeout=10)
    _assert_envelope(response, 504, "gateway_timeout")


def test_service_errors_pass_through_untouched(color: Gunicorn, tmp_path: Path) -> None:
    bad = {"instances": [{"island": "Atlantis"}]}
    headers = {"X-Request-ID": "same-id-both-ways"}
    direct = httpx.post(f"{color.url}/predict", json=bad, headers=headers, timeout=10)
    with Nginx(tmp_path, color.unix_socket) as nginx:
        proxied = httpx.post(f"{nginx.url}/predict", json=bad, headers=headers, timeout=10)
    assert direct.status_code == proxied.status_code == 422
    assert proxied.content == direct.content


def test_request_id_round_trips_and_is_logged(color: Gunicorn, tmp_path: Path) -> None:
    with Nginx(tmp_path, color.unix_socket) as nginx, httpx.Client(base_url=nginx.url) as client:
        echoed = client.get("/version", headers={"X-Request-ID": "trace-42.a:b"})
        generated = client.get("/version", headers={"X-Request-ID": "not a safe id"})
        missing = client.get("/version")
        from_nginx = client.get("/metrics", headers={"X-Request-ID": "trace-43"})
    assert echoed.headers["x-request-id"] == "trace-42.a:b"
    for response in (generated, missing):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert from_nginx.headers["x-request-id"] == "trace-43"
    logged = {entry["request_id"]: entry for entry in nginx.access_log()}
    entry = logged["trace-42.a:b"]
    assert entry["status"] == 200
    assert entry["upstream_addr"] == f"unix:{color.unix_socket}"
    assert float(entry["upstream_response_time"]) >= 0
    assert entry["model_version"] == "1"
    assert generated.headers["x-request-id"] in logged
    assert logged["trace-43"]["status"] == 404


def test_metrics_stay_inside_and_docs_can_be_switched_off(color: Gunicorn, tmp_path: Path) -> None:
    with Nginx(tmp_path / "on", color.unix_socket) as nginx:
        assert httpx.get(f"{nginx.url}/docs").status_code == 200
        # The page's assets come through the edge too: /docs needs no CDN.
        assert httpx.get(f"{nginx.url}/docs/assets/swagger-ui-bundle.js").status_code == 200
        hidden = httpx.get(f"{nginx.url}/metrics")
    _assert_envelope(hidden, 404, "not_found")
    assert httpx.get(f"{color.url}/metrics").status_code == 200, "ops scrape the color directly"
    with Nginx(tmp_path / "off", color.unix_socket, docs=False) as nginx:
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui.css"):
            _assert_envelope(httpx.get(f"{nginx.url}{path}"), 404, "not_found")
        assert httpx.get(f"{nginx.url}/version").status_code == 200


def test_error_bodies_are_valid_json_for_every_nginx_error() -> None:
    """Each named error location returns parseable JSON in the envelope, or on a protocol's paths
    in that protocol's shape with the envelope's fields (checked on the template text)."""
    template = (TEMPLATES / SITE_TEMPLATE).read_text()
    bodies = re.findall(r"return (\d{3}) '(.*)';", template)
    assert {status for status, _ in bodies} >= {"413", "429", "502", "503", "504"}
    shapes: Counter[str] = Counter()
    # 400 and 414: nginx could not read the request line, so there is no path to tell a protocol by.
    without_path = {"400", "414"}
    for status, body in bodies:
        filled = body.replace("$mlvajra_request_id", "id").replace(
            "${MLVAJRA_CLIENT_MAX_BODY_SIZE}", "1"
        )
        parsed = json.loads(filled)
        if "error_code" in parsed:
            shapes["mlflow"] += 1
            assert set(parsed) == {"error_code", "message", "code", "details", "request_id"}
        elif isinstance(parsed["error"], str):
            shapes["v2"] += 1
            assert set(parsed) == {"error", "code", "details", "request_id"}
        else:
            shapes["envelope" if status not in without_path else "without_path"] += 1
            assert set(parsed["error"]) == {"code", "message", "details", "request_id"}
    assert shapes["mlflow"] == shapes["v2"] == shapes["envelope"]
    assert shapes["without_path"] == len(without_path)
