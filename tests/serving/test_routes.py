"""The HTTP API in process: contract, headers, metrics (bad input: test_bad_input.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.predictor import Predictor
from mlvajra.serving.codec import PredictCodec
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS


def _post(client: TestClient, body: Any, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        "/predict", content=content, headers={"content-type": "application/json", **headers}
    )


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    return dict(body["error"])


def test_reference_rows_predict_their_species(client: TestClient) -> None:
    response = _post(client, {"instances": [row for row, _ in REFERENCE_ROWS]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "penguins", "version": "1"}
    assert [p["label"] for p in body["predictions"]] == [label for _, label in REFERENCE_ROWS]
    for prediction in body["predictions"]:
        probabilities = prediction["probabilities"]
        assert list(probabilities) == ["Adelie", "Chinstrap", "Gentoo"]
        assert abs(sum(probabilities.values()) - 1.0) < 1e-5
        assert max(probabilities, key=probabilities.get) == prediction["label"]


def test_predictions_keep_request_order(client: TestClient) -> None:
    rows = [row for row, _ in REFERENCE_ROWS] * 5
    labels = [p["label"] for p in _post(client, {"instances": rows[::-1]}).json()["predictions"]]
    assert labels == [label for _, label in REFERENCE_ROWS * 5][::-1]


def test_null_where_nullable_and_unknown_category_are_accepted(
    client: TestClient, record: dict[str, Any]
) -> None:
    record.update(sex=None, bill_length_mm=None, island="Atlantis")
    response = _post(client, {"instances": [record]})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] in {"Adelie", "Chinstrap", "Gentoo"}


def test_request_id_is_echoed_or_generated(client: TestClient, record: dict[str, Any]) -> None:
    echoed = _post(client, {"instances": [record]}, **{"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert echoed.headers["x-model-version"] == "1"
    generated = client.get("/health")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = client.get("/health", headers={"x-request-id": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    error = _post(client, b"{", **{"x-request-id": "req-7"})
    assert _error(error)["request_id"] == "req-7"


def test_health_ready_version(client: TestClient, artifact_dir: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    version = client.get("/version").json()
    manifest = orjson.loads((artifact_dir / "manifest.json").read_bytes())
    assert version["sha256"] == manifest["files"]["model.onnx"]
    assert (version["name"], version["version"], version["format"]) == ("penguins", "1", "onnx")
    assert version["metrics"]["name"] == "f1_macro"
    assert version["library_versions"]["onnxruntime"]


def test_before_the_model_is_loaded_ready_and_predict_answer_503(artifact_dir: Path) -> None:
    client = TestClient(create_app(Settings(model_dir=artifact_dir)))  # no lifespan: no model
    ready = client.get("/ready")
    predict = _post(client, {"instances": [REFERENCE_ROWS[0][0]]})
    assert client.get("/health").status_code == 200
    for response in (ready, predict):
        assert response.status_code == 503
        assert _error(response) == {
            "code": "not_ready",
            "message": "the model is not loaded yet",
            "details": [],
            "request_id": response.headers["x-request-id"],
        }


def test_a_draining_worker_asks_clients_to_close_their_connection(artifact_dir: Path) -> None:
    """While draining, every answer says `Connection: close` so a proxy reconnects elsewhere."""
    app = create_app(Settings(model_dir=artifact_dir))
    with TestClient(app) as client:
        before = _post(client, {"instances": [REFERENCE_ROWS[0][0]]})
        app.state.service.draining = True
        during = _post(client, {"instances": [REFERENCE_ROWS[0][0]]})
        ready = client.get("/ready")
    assert "connection" not in before.headers
    assert during.status_code == 200, "a draining worker still answers"
    assert during.headers["connection"] == "close"
    assert (ready.status_code, ready.headers["connection"]) == (503, "close")


def test_unknown_route_and_method_use_the_envelope(client: TestClient) -> None:
    assert _error(client.get("/nope"))["code"] == "not_found"
    assert _error(client.get("/predict"))["code"] == "method_not_allowed"


def test_openapi_shows_the_model_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    record = schema["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert set(record["required"]) == set(REFERENCE_ROWS[0][0])
    assert record["properties"]["year"]["type"] == "integer"
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/PredictRequest"
    assert client.get("/docs").status_code == 200


def test_docs_can_be_switched_off(artifact_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=artifact_dir, docs=False))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_joblib_format_serves_the_same_answers(artifact_dir: Path) -> None:
    rows = [row for row, _ in REFERENCE_ROWS] + [dict(REFERENCE_ROWS[0][0], sex=None)]
    settings = Settings(model_dir=artifact_dir, model_format="joblib")
    with TestClient(create_app(settings)) as client:
        joblib_body = _post(client, {"instances": rows}).json()
        assert client.get("/version").json()["format"] == "joblib"
    with TestClient(create_app(Settings(model_dir=artifact_dir))) as client:
        onnx_body = _post(client, {"instances": rows}).json()
    assert [p["label"] for p in joblib_body["predictions"]] == [
        p["label"] for p in onnx_body["predictions"]
    ]
    for ours, theirs in zip(joblib_body["predictions"], onnx_body["predictions"], strict=True):
        for name, value in ours["probabilities"].items():
            assert abs(value - theirs["probabilities"][name]) <= 1e-6


def test_metrics_count_requests_predictions_and_invalid_fields(
    client: TestClient, record: dict[str, Any]
) -> None:
    def value(text: str, sample: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = client.get("/metrics").text
    _post(client, {"instances": [record, record]})
    _post(client, {"instances": [dict(record, year="x", colour=1)]})
    after = client.get("/metrics").text
    ok = 'mlvajra_requests_total{endpoint="/predict",status="200"}'
    bad = 'mlvajra_requests_total{endpoint="/predict",status="422"}'
    adelie = 'mlvajra_predictions_total{label="Adelie"}'
    year = 'mlvajra_invalid_instances_total{field="year"}'
    unknown = 'mlvajra_invalid_instances_total{field="<unknown>"}'
    for sample, grew in [(ok, 1), (bad, 1), (adelie, 2), (year, 1), (unknown, 1)]:
        assert value(after, sample) - value(before, sample) == grew, sample
    assert "mlvajra_model_info{" in after


class _ExplodingRunner:
    """A model that fails on every call, like a corrupted graph would."""

    def run(self, columns: Any) -> Any:
        raise RuntimeError("internal detail: /secret/path segfault")


def test_inference_failure_is_500_in_the_envelope_and_the_app_keeps_serving(
    artifact_dir: Path, record: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(model_dir=artifact_dir))
    with TestClient(app) as client:
        working = app.state.service.codec
        exploding = Predictor(working.predictor.manifest, _ExplodingRunner())
        app.state.service.codec = PredictCodec(exploding, 10)
        response = _post(client, {"instances": [record]}, **{"x-request-id": "boom-1"})
        assert response.status_code == 500
        error = _error(response)
        assert error["code"] == "inference_failed"
        assert error["request_id"] == "boom-1"
        assert "secret" not in response.text
        assert "RuntimeError" in caplog.text
        app.state.service.codec = working
        assert _post(client, {"instances": [record]}).status_code == 200


def test_scoring_routes_are_answered_before_fastapi(artifact_dir: Path) -> None:
    """POST /predict, /invocations and V2 infer, and GET /health, /ready and /metrics, never
    reach FastAPI's router: with the router gone, they still answer, in their own shapes, while
    every other route fails."""
    app = create_app(Settings(model_dir=artifact_dir))
    with TestClient(app) as client:
        app.api.router.routes.clear()
        record = REFERENCE_ROWS[0][0]
        predicted = client.post("/predict", json={"instances": [record]})
        assert predicted.status_code == 200
        assert predicted.headers["x-request-id"]
        mlflow = client.post("/invocations", json={"dataframe_records": [record]})
        assert mlflow.status_code == 200
        refused = client.post("/v2/models/penguins/infer", json={"inputs": []})
        assert refused.status_code == 400
        assert "error" in refused.json()
        for path in ("/health", "/ready", "/metrics"):
            assert client.get(path).status_code == 200, path
            assert client.head(path).status_code == 200, path
        assert "mlvajra_requests_total" in client.get("/metrics").text
        assert client.get("/version").status_code == 404
