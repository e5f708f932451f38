"""MLVAJRA_METRICS_PORT under real gunicorn: the ops port answers /metrics, /health and /ready
only, beside a TCP port (reuse_port: every worker binds both) or the pod's unix socket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.topology.processes import Gunicorn, free_port

pytestmark = pytest.mark.topology

PREDICTIONS = 40
SCRAPES = 10
SAMPLE = 'mlvajra_requests_total{endpoint="/predict",status="200"}'
# What the whole app serves; on the metrics port each must be a 404 in the envelope.
NOT_OPS = [
    ("POST", "/predict"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/version"),
    ("GET", "/v2"),
    ("POST", "/v2/models/penguins/infer"),
    ("POST", "/invocations"),
    ("POST", "/metrics"),
    ("GET", "/metrics/"),
]


def _counter(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("main", ["tcp", "unix"])
def test_the_metrics_port_answers_ops_only_and_the_main_port_everything(
    main: str, artifact_dir: Path, tmp_path: Path
) -> None:
    metrics_port = free_port()
    socket = tmp_path / "app.sock"
    # "unix" is the Kubernetes pod: the app on the unix socket only (MLVAJRA_BIND), and PORT is
    # the metrics port (probes and the image's HEALTHCHECK use it).
    env = {"MLVAJRA_METRICS_PORT": str(metrics_port)}
    if main == "unix":
        env["MLVAJRA_BIND"] = f"unix:{socket}"
    server = Gunicorn(
        artifact_dir, tmp_path, workers=2, port=metrics_port if main == "unix" else None, env=env
    )
    # A fresh connection per request lets the kernel spread them over both workers.
    fresh = {"limits": httpx.Limits(max_keepalive_connections=0), "timeout": 10}
    app_transport = httpx.HTTPTransport(uds=str(socket)) if main == "unix" else None
    app_url = "http://app" if main == "unix" else server.url
    body = {"instances": [REFERENCE_ROWS[0][0]]}
    with (
        server,
        httpx.Client(base_url=app_url, transport=app_transport, **fresh) as app,  # type: ignore[arg-type]
        httpx.Client(base_url=f"http://127.0.0.1:{metrics_port}", **fresh) as ops,  # type: ignore[arg-type]
    ):
        before = _counter(ops.get("/metrics").text, SAMPLE)
        for _ in range(PREDICTIONS):
            assert app.post("/predict", json=body).status_code == 200
        for path in ("/docs", "/openapi.json", "/version", "/v2", "/health"):
            assert app.get(path).status_code == 200, path
        refused = {(method, path): ops.request(method, path, json=body) for method, path in NOT_OPS}
        scrapes = [_counter(ops.get("/metrics").text, SAMPLE) for _ in range(SCRAPES)]
        probes = [ops.get("/health"), ops.get("/ready"), ops.head("/health"), ops.head("/ready")]
        last_scrape = ops.get("/metrics").text
    # After the stop: the workers write their batched access log lines on the way out.
    log_lines = [line for line in server.log().splitlines() if line.startswith("{")]
    for (method, path), response in refused.items():
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found", (method, path)
    assert [response.status_code for response in probes] == [200] * 4
    # The predictions made on the app's listener, summed over both workers, on every scrape.
    assert scrapes == [before + PREDICTIONS] * SCRAPES
    # The refusals never reached the app: no request metrics, no access log lines for them.
    assert 'status="404"' not in last_scrape
    assert not [line for line in log_lines if json.loads(line).get("status") == 404]
    if main == "tcp":
        # reuse_port: each worker binds both ports, and the master says so.
        assert f"workers listen at: 127.0.0.1:{server.port}, 127.0.0.1:{metrics_port}" in (
            server.log()
        )
        scraped_by = {
            entry["pid"] for entry in map(json.loads, log_lines) if entry.get("path") == "/metrics"
        }
        assert len(scraped_by) == 2, "both workers must have answered scrapes"
