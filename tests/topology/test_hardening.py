"""Faults under real gunicorn while serving: a failing model, slow clients, SIGTERM under load,
and logs that never hold the payload.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import joblib
import orjson
import pytest

from mlvajra.artifact import JOBLIB_FILE
from tests.fixtures import REFERENCE_ROWS
from tests.topology.faults import TRIGGER, ExplodingPipeline, log_entries, rehash
from tests.topology.processes import Gunicorn

pytestmark = pytest.mark.topology

SECRET = "s3cr3t-payload-4417"  # noqa: S105 (a planted marker, not a credential)
"""Planted in request values: it must never appear in a response or in the logs."""
RECORD = REFERENCE_ROWS[0][0]


# (id, how to break the artifact, extra environment, the one-line reason)
@pytest.fixture
def exploding_artifact(artifact_copy: Path) -> Path:
    """The artifact with its joblib pipeline wrapped to fail on one category."""
    path = artifact_copy / JOBLIB_FILE
    joblib.dump(ExplodingPipeline(joblib.load(path)), path)
    rehash(artifact_copy, JOBLIB_FILE)
    return artifact_copy


def _predict(client: httpx.Client, body: Any, request_id: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"content-type": "application/json", "x-request-id": request_id}
    return client.post("/predict", content=content, headers=headers)


def test_failing_model_is_500_logged_with_traceback_and_no_payload_anywhere(
    exploding_artifact: Path, tmp_path: Path
) -> None:
    env = {"MLVAJRA_MODEL_FORMAT": "joblib"}
    boom = {"instances": [RECORD, dict(RECORD, island=TRIGGER + SECRET)]}
    with (
        Gunicorn(exploding_artifact, tmp_path, workers=1, env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        failed = _predict(client, boom, "boom-1")
        answers = {
            "ok-unseen-category": _predict(
                client, {"instances": [dict(RECORD, island="Atlantis-" + SECRET)]}, "ok-1"
            ),
            "bad-type": _predict(
                client, {"instances": [dict(RECORD, bill_length_mm=SECRET)]}, "bad-1"
            ),
            "bad-unknown-field": _predict(
                client, {"instances": [dict(RECORD, colour=SECRET)]}, "bad-2"
            ),
            "malformed": _predict(
                client, b'{"instances": [{"island": "' + SECRET.encode(), "bad-3"
            ),
            "after-failure": _predict(client, {"instances": [RECORD]}, "ok-2"),
        }
    log = server.log()
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert (error["code"], error["request_id"]) == ("inference_failed", "boom-1")
    assert failed.headers["x-request-id"] == "boom-1"
    assert SECRET not in failed.text
    assert "ValueError" not in failed.text
    assert [answers[k].status_code for k in answers] == [200, 422, 422, 400, 200]
    assert all(SECRET not in response.text for response in answers.values())
    # The worker kept serving: one boot only, and the request after the failure succeeded.
    assert log.count("Booting worker") == 1
    entries = log_entries(log)
    assert len(entries) == len([line for line in log.splitlines() if line.strip()]), log
    failure = [e for e in entries if e["message"] == "inference failed"]
    assert len(failure) == 1
    assert failure[0]["request_id"] == "boom-1"
    assert "ValueError" in failure[0]["exception"]
    assert "predict_proba" in failure[0]["exception"]
    access = {e["request_id"]: e for e in entries if e["logger"] == "mlvajra.access"}
    for request_id, status in [("boom-1", 500), ("ok-1", 200), ("bad-1", 422), ("bad-3", 400)]:
        assert access[request_id]["status"] == status
        assert access[request_id]["model_version"] == "1"
        assert access[request_id]["duration_ms"] >= 0
    assert SECRET not in log


def test_expose_errors_puts_the_exception_text_in_the_log(
    exploding_artifact: Path, tmp_path: Path
) -> None:
    env = {"MLVAJRA_MODEL_FORMAT": "joblib", "MLVAJRA_EXPOSE_ERRORS": "true"}
    boom = {"instances": [dict(RECORD, island=TRIGGER + SECRET)]}
    with (
        Gunicorn(exploding_artifact, tmp_path, workers=1, env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert _predict(client, boom, "boom-2").status_code == 500
    assert SECRET in server.log()


def _send_head(port: int, body_length: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % body_length
    )
    return connection


def _read_status(connection: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    connection.close()
    return int(data.split(b" ", 2)[1])


def test_slow_clients_block_no_one_and_crash_nothing(artifact_dir: Path, tmp_path: Path) -> None:
    body = orjson.dumps({"instances": [RECORD]})
    pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
    with (
        # One worker: if the slow body blocked the event loop, the other requests would wait.
        Gunicorn(artifact_dir, tmp_path, workers=1) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
    ):
        slow = _send_head(server.port, len(body))
        abandoned = _send_head(server.port, len(body))
        abandoned.sendall(body[:10])
        others = []
        for piece in pieces:
            slow.sendall(piece)
            others.append(_predict(client, {"instances": [RECORD]}, "meanwhile").status_code)
            time.sleep(0.05)
        abandoned.close()  # hangs up mid-body
        assert _read_status(slow) == 200
        # Not HTTP at all: the server's parser answers 400 before the app sees anything.
        junk = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        junk.sendall(b"\x00\xffGARBAGE " + SECRET.encode() + b"\r\n\r\n")
        assert _read_status(junk) == 400
        assert others == [200] * len(pieces)
        assert _predict(client, {"instances": [RECORD]}, "after").status_code == 200
    log = server.log()
    assert log.count("Booting worker") == 1
    # The hang-up is the client's doing: logged as 499 (nginx's code), no traceback, no 500.
    statuses = [e["status"] for e in log_entries(log) if e["logger"] == "mlvajra.access"]
    assert statuses.count(499) == 1
    assert 500 not in statuses
    assert "Traceback" not in log
    assert SECRET not in log


LOAD_THREADS = 2
LOAD_REQUESTS = 400
"""Per load thread, at most; they stop early once /ready says the service is draining."""


def test_sigterm_drains_ready_503_first_and_cuts_no_request(
    artifact_dir: Path, tmp_path: Path
) -> None:
    body = orjson.dumps({"instances": [RECORD]})
    server = Gunicorn(artifact_dir, tmp_path, workers=2, env={"MLVAJRA_DRAIN_SECONDS": "1.5"})
    with server:
        draining = threading.Event()
        results: list[int | str] = []
        lock = threading.Lock()

        def load() -> None:
            # A fresh connection per request, like a proxy spreading load; stops like a load
            # balancer would once /ready reports draining.
            limits = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=server.url, timeout=10, limits=limits) as client:
                for _ in range(LOAD_REQUESTS):
                    if draining.is_set():
                        return
                    try:
                        outcome: int | str = _predict(client, body, "load").status_code
                    except httpx.ConnectError:
                        outcome = "refused"
                    except httpx.TransportError as error:
                        outcome = f"cut: {error!r}"
                    with lock:
                        results.append(outcome)

        # In flight across the whole shutdown: headers and half the body now, the rest later.
        in_flight = _send_head(server.port, len(body))
        in_flight.sendall(body[: len(body) // 2])
        loaders = [threading.Thread(target=load) for _ in range(LOAD_THREADS)]
        for thread in loaders:
            thread.start()
        while len(results) < 20:
            time.sleep(0.01)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        ready = _ready_statuses_until_gone(server.url, draining)
        for thread in loaders:
            thread.join(30)
        in_flight.sendall(body[len(body) // 2 :])
        in_flight_status = _read_status(in_flight)
        code = server.process.wait(30)
    assert code == 0
    assert in_flight_status == 200
    assert 503 in ready, ready
    # Once draining, never ready again.
    assert 200 not in ready[ready.index(503) :]
    assert ready[-1] == "refused"
    cut = [outcome for outcome in results if outcome not in (200, "refused")]
    assert not cut, cut
    assert results.count(200) >= 20


def _ready_statuses_until_gone(
    url: str, draining: threading.Event, timeout: float = 20.0
) -> list[int | str]:
    """Poll /ready like a load balancer: flag `draining` at the first 503, stop once it is gone."""
    seen: list[int | str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"{url}/ready", timeout=2.0).status_code
        except httpx.TransportError:
            # Refused, or reset while the closing socket's backlog is dropped: gone either way.
            seen.append("refused")
            return seen
        seen.append(status)
        if status == 503:
            draining.set()
        time.sleep(0.02)
    return seen
