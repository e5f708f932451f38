"""nginx before one color on the protocol routes: same limits, errors in each protocol's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tritonclient.http as triton

from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS, penguin_column
from tests.topology.processes import Gunicorn, Nginx

pytestmark = pytest.mark.topology
ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]
BODY_LIMIT = 16_384


@pytest.fixture(scope="module")
def color(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One color behind nginx, shared by this module's tests."""
    workdir = tmp_path_factory.mktemp("protocol-color")
    with Gunicorn(artifact_dir, workdir, workers=1, unix_socket=True) as server:
        yield server


def _nginx_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert "x-model-version" not in response.headers  # nginx answered, not the service
    body: dict[str, Any] = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["details"] == []
    return body


def test_real_clients_through_nginx(color: Gunicorn, tmp_path: Path) -> None:
    with Nginx(tmp_path, color.unix_socket, body_limit=BODY_LIMIT) as nginx:
        client = triton.InferenceServerClient(url=f"127.0.0.1:{nginx.options.port}")
        inputs = []
        for name, datatype in PENGUIN_DATATYPES.items():
            tensor = triton.InferInput(name, [3, 1], datatype)
            tensor.set_data_from_numpy(penguin_column(ROWS, name))  # binary, tritonclient's default
            inputs.append(tensor)
        labels = client.infer("penguins", inputs).as_numpy("predict")
        assert labels is not None
        assert [value.decode() for value in labels.reshape(-1).tolist()] == LABELS
        csv = "\n".join([",".join(ROWS[0]), *(",".join(map(str, r.values())) for r in ROWS)])
        response = httpx.post(
            f"{nginx.url}/invocations", content=csv, headers={"content-type": "text/csv"}
        )
        assert response.json() == {"predictions": LABELS}


def test_nginx_errors_take_each_protocols_shape(color: Gunicorn, tmp_path: Path) -> None:
    padding = b"x" * (BODY_LIMIT + 1)
    with Nginx(tmp_path, color.unix_socket, body_limit=BODY_LIMIT) as nginx:
        v2 = httpx.post(f"{nginx.url}/v2/models/penguins/infer", content=padding, timeout=10)
        assert "body too large" in _nginx_error(v2, 413)["error"]
        mlflow = httpx.post(f"{nginx.url}/invocations", content=padding, timeout=10)
        assert _nginx_error(mlflow, 413)["error_code"] == "RESOURCE_EXHAUSTED"
        envelope = httpx.post(f"{nginx.url}/predict", content=padding, timeout=10)
        assert envelope.json()["error"]["code"] == "payload_too_large"


def test_nginx_502_on_v2_when_the_color_is_down(tmp_path: Path) -> None:
    with Nginx(tmp_path, tmp_path / "nobody.sock") as nginx:
        response = httpx.get(f"{nginx.url}/v2/health/ready", timeout=10)
        assert _nginx_error(response, 502)["code"] == "bad_gateway"
        response = httpx.get(f"{nginx.url}/ping", timeout=10)
        assert _nginx_error(response, 502)["error_code"] == "INTERNAL_ERROR"
