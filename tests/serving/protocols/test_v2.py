"""Open Inference Protocol (V2) REST in process: metadata, inference, the record rules, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.inputs import MAX_DETAILS
from mlvajra.serving.factory import create_app
from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS, v2_inputs

ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]
INFER = "/v2/models/penguins/infer"


def _infer(client: TestClient, payload: Any, path: str = INFER, **headers: str) -> Any:
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(path, content=content, headers=headers)


def _labels(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    outputs = {output["name"]: output for output in response.json()["outputs"]}
    return list(outputs["predict"]["data"])


def _error(response: Any, status: int = 400) -> dict[str, Any]:
    """The V2 error body: a one-line string, the envelope's fields beside it."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str)
    assert "\n" not in body["error"]
    assert set(body) == {"error", "code", "details", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_health_server_and_model_metadata(module_client: TestClient) -> None:
    assert module_client.get("/v2/health/live").json() == {"live": True}
    assert module_client.get("/v2/health/ready").json() == {"ready": True}
    assert module_client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    for path in ("/v2/models/penguins/ready", "/v2/models/penguins/versions/1/ready"):
        assert module_client.get(path).json() == {"name": "penguins", "ready": True}
    for path in ("/v2/models/penguins", "/v2/models/penguins/versions/1"):
        metadata = module_client.get(path).json()
        assert metadata["name"] == "penguins"
        assert metadata["versions"] == ["1"]
        assert metadata["inputs"] == [
            {"name": name, "datatype": datatype, "shape": [-1, 1]}
            for name, datatype in PENGUIN_DATATYPES.items()
        ]
        assert metadata["outputs"] == [
            {"name": "predict", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "predict_proba", "datatype": "FP32", "shape": [-1, 3]},
        ]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/penguins/versions/9",
        "/v2/models/penguins/versions/9/ready",
    ],
)
def test_unknown_model_or_version_is_404(module_client: TestClient, path: str) -> None:
    body = _error(module_client.get(path), 404)
    assert body["code"] == "not_found"


def test_unknown_model_or_version_infer_is_404(module_client: TestClient) -> None:
    payload = {"inputs": v2_inputs(ROWS)}
    _error(_infer(module_client, payload, "/v2/models/nope/infer"), 404)
    _error(_infer(module_client, payload, "/v2/models/penguins/versions/2/infer"), 404)


def test_reference_penguins_every_shape_and_path(module_client: TestClient) -> None:
    nested = v2_inputs(ROWS)
    for tensor in nested:
        tensor["data"] = [[value] for value in tensor["data"]]
    bodies = [
        {"inputs": v2_inputs(ROWS)},
        {"inputs": v2_inputs(ROWS, shape_1d=True)},
        {"inputs": nested},
        {"inputs": list(reversed(v2_inputs(ROWS)))},
        # What KServe's client and MLServer's PandasCodec add.
        {"model_name": "penguins", "parameters": {"content_type": "pd"}, "inputs": v2_inputs(ROWS)},
    ]
    for payload in bodies:
        assert _labels(_infer(module_client, payload)) == LABELS
    versioned = _infer(module_client, bodies[0], "/v2/models/penguins/versions/1/infer")
    assert _labels(versioned) == LABELS
    json_type = _infer(module_client, bodies[0], **{"content-type": "application/json"})
    assert _labels(json_type) == LABELS


def test_response_shape_outputs_and_id(module_client: TestClient) -> None:
    response = _infer(module_client, {"id": "42", "inputs": v2_inputs(ROWS)})
    body = response.json()
    assert body["model_name"] == "penguins"
    assert body["model_version"] == "1"
    assert body["id"] == "42"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "datatype": "BYTES", "shape": [3, 1], "data": LABELS}
    assert proba["name"] == "predict_proba"
    assert proba["shape"] == [3, 3]
    assert proba["datatype"] == "FP32"
    assert all(abs(sum(proba["data"][i : i + 3]) - 1) < 1e-5 for i in (0, 3, 6))
    # Without an id, the request id answers for it.
    response = _infer(module_client, {"inputs": v2_inputs(ROWS)}, **{"x-request-id": "abc-1"})
    assert response.json()["id"] == "abc-1"
    only = _infer(module_client, {"inputs": v2_inputs(ROWS), "outputs": [{"name": "predict"}]})
    assert [output["name"] for output in only.json()["outputs"]] == ["predict"]


def test_null_and_nan_are_missing_where_nullable(module_client: TestClient) -> None:
    inputs = v2_inputs(ROWS[:1])
    for tensor in inputs:
        if tensor["name"] in ("bill_length_mm", "sex"):
            tensor["data"] = [None]
    assert _labels(_infer(module_client, {"inputs": inputs})) == ["Adelie"]
    text = orjson.dumps({"inputs": v2_inputs(ROWS[:1])}).replace(b"39.1", b"NaN")
    assert b"NaN" in text
    assert _labels(_infer(module_client, text)) == ["Adelie"]
    many = orjson.dumps({"inputs": v2_inputs(ROWS[:1] * 60)}).replace(b"39.1", b"NaN")
    assert _labels(_infer(module_client, many)) == ["Adelie"] * 60


def test_many_rows_score_as_predict_does(module_client: TestClient) -> None:
    rows = (ROWS * 20)[:60]
    predicted = module_client.post("/predict", json={"instances": rows}).json()["predictions"]
    assert _labels(_infer(module_client, {"inputs": v2_inputs(rows)})) == [
        p["label"] for p in predicted
    ]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"2007", b"null", "year"),  # year is not nullable
        (b"2007", b"NaN", "year"),
        (b'"Torgersen"', b"null", "island"),
        (b"39.1", b"Infinity", "bill_length_mm"),  # Infinity is never missing
        (b"39.1", b"-Infinity", "bill_length_mm"),
        (b"2007", b"2007.5", "year"),
        (b"2007", b"true", "year"),
        (b"39.1", b'"39.1"', "bill_length_mm"),
        (b'"Torgersen"', b"7", "island"),
    ],
)
# 60 rows: checked a column at a time first (`mlvajra.columnar`), then judged row by row.
@pytest.mark.parametrize("copies", [1, 60])
def test_bad_values_are_400_with_row_and_field(
    module_client: TestClient, old: bytes, new: bytes, field: str, copies: int
) -> None:
    text = orjson.dumps({"inputs": v2_inputs(ROWS[:1] * copies)}).replace(old, new, 1)
    body = _error(_infer(module_client, text))
    assert body["code"] == "invalid_instances"
    assert [(d["row"], d["field"]) for d in body["details"]] == [(0, field)]
    assert field in body["error"]


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("year", {"datatype": "FP32"}, "datatype FP32 does not fit type integer"),
        ("island", {"datatype": "FP32"}, "does not fit type string"),
        ("bill_length_mm", {"datatype": "BYTES"}, "does not fit type number"),
        ("bill_length_mm", {"shape": [1, 2]}, "shape must be [N] or [N, 1]"),
        ("bill_length_mm", {"shape": [2, 1]}, "other inputs have 1 rows"),
        ("bill_length_mm", {"data": [39.1, 40.0]}, "data holds 2 value(s)"),
        ("year", {"data": None}, "must be a list"),
    ],
)
def test_tensors_that_do_not_fit_are_400(
    module_client: TestClient, name: str, change: dict[str, Any], message: str
) -> None:
    inputs = v2_inputs(ROWS[:1])
    for tensor in inputs:
        if tensor["name"] == name:
            tensor.update(change)
    body = _error(_infer(module_client, {"inputs": inputs}))
    assert any(message in detail["message"] for detail in body["details"]), body


def test_integer_datatype_carrying_a_fraction_is_refused(module_client: TestClient) -> None:
    inputs = v2_inputs(ROWS[:1])
    inputs[1].update(datatype="INT64")
    body = _error(_infer(module_client, {"inputs": inputs}))
    assert body["details"] == [
        {"row": 0, "field": "bill_length_mm", "message": "must be an integer (datatype INT64)"}
    ]
    inputs[1].update(data=[39])  # a whole number in an INT tensor is a fine measurement
    assert _labels(_infer(module_client, {"inputs": inputs})) == ["Adelie"]


def test_missing_unknown_and_repeated_inputs(module_client: TestClient) -> None:
    inputs = v2_inputs(ROWS[:1])
    extra = {"name": "wingspan", "shape": [1], "datatype": "FP32", "data": [1.0]}
    body = _error(_infer(module_client, {"inputs": [*inputs[1:], extra, inputs[2]]}))
    assert {(d["field"], d["message"]) for d in body["details"]} == {
        ("wingspan", "unknown field"),
        ("bill_depth_mm", "input given more than once"),
        ("island", "required input is missing"),
    }
    _error(_infer(module_client, {"inputs": v2_inputs(ROWS), "outputs": [{"name": "label"}]}))


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"[]", b'{"inputs": 3}', b'{"inputs": [{"name": 1}]}', b"\xff\xfe", b"null"],
)
def test_malformed_bodies_are_400(module_client: TestClient, payload: bytes) -> None:
    body = _error(_infer(module_client, payload))
    assert body["code"] in ("malformed_json", "invalid_instances")


def test_limits_match_predict(artifact_dir: Path) -> None:
    settings = Settings(model_dir=artifact_dir, max_instances=2, max_body_bytes=4096)
    with TestClient(create_app(settings)) as client:
        body = _error(_infer(client, {"inputs": v2_inputs(ROWS)}), 413)
        assert "at most 2" in body["error"]
        big = {"inputs": v2_inputs(ROWS[:1]), "pad": "x" * 5000}
        _error(_infer(client, big), 413)
        _error(
            _infer(client, {"inputs": v2_inputs(ROWS[:1])}, **{"content-type": "text/plain"}), 415
        )


def test_details_are_capped(module_client: TestClient) -> None:
    rows = [dict(ROWS[0], year=None, island=None) for _ in range(MAX_DETAILS)]
    body = _error(_infer(module_client, {"inputs": v2_inputs(rows)}))
    assert len(body["details"]) == MAX_DETAILS
    # As /predict: checking stops once the details are full, the rest is "at least".
    half = MAX_DETAILS // 2
    assert body["error"].startswith(
        f"at least {MAX_DETAILS} invalid value(s) in at least {half} record(s) "
        f"(records from row {half} on not checked)"
    )


def test_model_name_setting_renames_the_v2_model(artifact_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=artifact_dir, model_name="pingu"))) as client:
        assert client.get("/v2/models/pingu").json()["name"] == "pingu"
        _error(client.get("/v2/models/penguins"), 404)
        response = _infer(client, {"inputs": v2_inputs(ROWS)}, "/v2/models/pingu/infer")
        assert response.json()["model_name"] == "pingu"
        assert _labels(response) == LABELS


def test_metrics_label_route_templates(module_client: TestClient) -> None:
    _infer(module_client, {"inputs": v2_inputs(ROWS)})
    _infer(module_client, {"inputs": v2_inputs(ROWS)}, "/v2/models/some-client-name/infer")
    text = module_client.get("/metrics").text
    assert 'endpoint="/v2/models/{model_name}/infer",status="200"' in text
    assert 'endpoint="/v2/models/{model_name}/infer",status="404"' in text
    assert "some-client-name" not in text


def test_predict_keeps_its_envelope(module_client: TestClient) -> None:
    response = module_client.post("/predict", json={"instances": [dict(ROWS[0], year=None)]})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_instances"


def test_openapi_lists_the_v2_routes(module_client: TestClient) -> None:
    paths = module_client.get("/openapi.json").json()["paths"]
    assert "/v2/models/{model_name}/infer" in paths
    assert "/v2/models/{model_name}/versions/{model_version}/infer" in paths
    assert "/v2/health/ready" in paths


def test_an_integral_float_is_an_integer_and_duplicate_keys_are_refused(
    module_client: TestClient,
) -> None:
    text = orjson.dumps({"inputs": v2_inputs(ROWS[:1])})
    assert _labels(_infer(module_client, text.replace(b"[2007]", b"[2007.0]", 1))) == ["Adelie"]
    body = _error(_infer(module_client, text.replace(b'"datatype":', b'"name":"x","datatype":', 1)))
    assert body["details"] == [
        {"row": 0, "field": "name", "message": "duplicate field: each key may appear once"}
    ]
