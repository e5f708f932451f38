"""Bounded work on the V2 and MLflow routes: the checks /predict has (serving/bounds.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.inputs import MAX_DETAILS
from tests.fixtures import REFERENCE_ROWS, v2_inputs

RECORD = REFERENCE_ROWS[0][0]
INFER = "/v2/models/penguins/infer"
REFUSED_UNREAD = "more values than 1000 records of the model's 7 inputs hold; refused unread"


def _post(client: TestClient, path: str, body: Any, content_type: str = "application/json") -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(path, content=content, headers={"content-type": content_type})


def _tensor(name: str) -> dict[str, Any]:
    return {"name": name, "shape": [1], "datatype": "FP32", "data": [0]}


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        (INFER, {"inputs": [_tensor(f"x{i}") for i in range(40_000)]}, "application/json"),
        (INFER, {"inputs": [{**_tensor("year"), "data": [0] * 100_000}]}, "application/json"),
        (
            INFER,
            {"inputs": v2_inputs([RECORD]), "outputs": [{"name": f"o{i}"} for i in range(40_000)]},
            "application/json",
        ),
        ("/invocations", {"instances": [0] * 100_000}, "application/json"),
        (
            "/invocations",
            {"dataframe_split": {"columns": ["x"] * 2000, "data": [[0] * 2000] * 20}},
            "application/json",
        ),
        ("/invocations", ("a," * 2000 + "\n" + "0," * 2000 + "\n") * 20, "text/csv"),
    ],
    ids=["v2 tensors", "v2 one tensor's data", "v2 outputs", "mlflow list", "mlflow split", "csv"],
)
def test_more_than_a_valid_body_holds_is_refused_unread(
    module_client: TestClient, path: str, body: Any, content_type: str
) -> None:
    data = body.encode() if isinstance(body, str) else body
    response = _post(module_client, path, data, content_type)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["code"] == "payload_too_large"
    assert REFUSED_UNREAD in response.text


@pytest.mark.parametrize("key", ["inputs", "outputs"])
def test_far_more_tensors_than_the_model_has_is_one_problem(
    module_client: TestClient, key: str
) -> None:
    tensors = [_tensor(f"x{i}") for i in range(1_500)]
    body = {"inputs": tensors} if key == "inputs" else {"inputs": v2_inputs([RECORD])}
    if key == "outputs":
        body["outputs"] = [{"name": f"o{i}"} for i in range(1_500)]
    response = _post(module_client, INFER, body)
    assert response.status_code == 400, response.text[:300]
    error = response.json()
    assert error["details"] == [
        {
            "row": None,
            "field": key,
            "message": f"1500 {key}; this model has {7 if key == 'inputs' else 2}",
        }
    ]


def test_mlflow_records_with_unknown_keys_stop_at_the_details_cap(
    module_client: TestClient,
) -> None:
    records = [{f"x{i}": 1 for i in range(7)}] * 1000
    response = _post(module_client, "/invocations", {"dataframe_records": records})
    assert response.status_code == 400
    error = response.json()
    assert error["message"].startswith("at least ")
    assert "not checked" in error["message"]
    assert len(error["details"]) <= MAX_DETAILS + 7


def test_mlflow_record_with_thousands_of_keys_is_counted_not_validated(
    module_client: TestClient,
) -> None:
    record = {**RECORD, **{f"extra-{i}": 0 for i in range(5_000)}}
    response = _post(module_client, "/invocations", {"dataframe_records": [record]})
    assert response.status_code == 400
    error = response.json()
    assert error["message"] == "5000 invalid value(s) in 1 record(s)"
    assert len(error["details"]) == MAX_DETAILS
