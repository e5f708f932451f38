"""MLflow's scoring protocol, in process: every input format, CSV, the /predict rules, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS

ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]
COLUMNS = list(ROWS[0])
SPLIT = {"columns": COLUMNS, "data": [list(row.values()) for row in ROWS]}
BY_COLUMN = {name: [row[name] for row in ROWS] for name in COLUMNS}
CSV = "\n".join([",".join(COLUMNS), *(",".join(str(v) for v in row.values()) for row in ROWS)])


def _invoke(client: TestClient, payload: Any, content_type: str = "application/json") -> Any:
    content = payload if isinstance(payload, bytes | str) else orjson.dumps(payload)
    return client.post("/invocations", content=content, headers={"content-type": content_type})


def _error(response: Any, status: int = 400) -> dict[str, Any]:
    """MLflow's error body, the envelope's fields beside it."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "message", "code", "details", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": SPLIT},
        {"dataframe_split": {**SPLIT, "index": [10, 11, 12]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"instances": BY_COLUMN},
        {"inputs": ROWS},
        {"inputs": BY_COLUMN},
        {"dataframe_split": SPLIT, "params": {}},
    ],
    ids=lambda payload: "+".join(payload),
)
def test_every_json_format_scores_the_reference_penguins(
    module_client: TestClient, payload: dict[str, Any]
) -> None:
    response = _invoke(module_client, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": LABELS}


@pytest.mark.parametrize("content_type", ["text/csv", "application/csv", "text/csv; charset=utf-8"])
def test_csv_with_a_header_row(module_client: TestClient, content_type: str) -> None:
    assert _invoke(module_client, CSV, content_type).json() == {"predictions": LABELS}


def test_json_charset_utf8_is_json(module_client: TestClient) -> None:
    response = _invoke(module_client, {"inputs": ROWS}, "application/json; charset=utf-8")
    assert response.json() == {"predictions": LABELS}


def test_nan_and_null_are_missing_where_nullable(module_client: TestClient) -> None:
    row = orjson.dumps({"dataframe_split": {"columns": COLUMNS, "data": [SPLIT["data"][0]]}})
    nan = row.replace(b"39.1", b"NaN").replace(b'"male"', b"NaN")
    null = row.replace(b"39.1", b"null").replace(b'"male"', b"null")
    for body in (nan, null):
        assert _invoke(module_client, body).json() == {"predictions": ["Adelie"]}
    csv = CSV.replace("39.1", "").replace(",male,", ",,")
    assert _invoke(module_client, csv, "text/csv").json()["predictions"] == LABELS
    csv = CSV.replace("39.1", "nan")
    assert _invoke(module_client, csv, "text/csv").json()["predictions"] == LABELS
    error = _error(_invoke(module_client, CSV.replace("2007", "NaN", 1), "text/csv"))
    assert [(d["row"], d["field"]) for d in error["details"]] == [(0, "year")]
    error = _error(_invoke(module_client, CSV.replace("39.1", "inf"), "text/csv"))
    assert [(d["row"], d["field"]) for d in error["details"]] == [(0, "bill_length_mm")]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"2007", b"NaN", "year"),
        (b"2007", b"null", "year"),
        (b"39.1", b"Infinity", "bill_length_mm"),
        (b'"Torgersen"', b"NaN", "island"),
        (b"2007", b"2007.5", "year"),
        (b"2007", b"true", "year"),
        (b'"year":', b'"year":2008,"year":', "year"),  # a duplicate key: the last won before
    ],
)
def test_bad_values_are_400_with_row_and_field(
    module_client: TestClient, old: bytes, new: bytes, field: str
) -> None:
    body = orjson.dumps({"dataframe_records": ROWS[:1]}).replace(old, new, 1)
    error = _error(_invoke(module_client, body))
    assert error["error_code"] == "BAD_REQUEST"
    assert [(d["row"], d["field"]) for d in error["details"]] == [(0, field)]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"dataframe_split": SPLIT, "inputs": ROWS},
        {"dataframe_split": SPLIT, "extra": 1},
        {"dataframe_split": SPLIT, "params": {"threshold": 0.5}},
        {"dataframe_split": {"columns": COLUMNS}},
        {"dataframe_split": {**SPLIT, "index": [1]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1, 2]]}},
        {"dataframe_split": {"columns": [*COLUMNS, "year"], "data": []}},
        {"dataframe_records": {"island": "Dream"}},
        {"instances": {"island": ["Dream"], "year": [2007, 2008]}},
        {"instances": 3},
        [ROWS[0]],
        {"dataframe_records": []},
    ],
)
def test_structure_errors_are_400(module_client: TestClient, payload: Any) -> None:
    assert _error(_invoke(module_client, payload))["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize("body", [b"{", b"\xff", b""])
def test_malformed_json_is_400(module_client: TestClient, body: bytes) -> None:
    assert _error(_invoke(module_client, body))["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("island,year\nDream", "row has 1 value(s) for 2 column(s)"),
        (CSV.replace("2007", "2007.0", 1), "must be an integer"),
        (CSV.replace("Torgersen", '"unclosed'), ""),
        (CSV + "\nDream,x,1,2,3,male,2007", "must be a number"),
        ("", "header row"),
    ],
)
def test_bad_csv_is_400(module_client: TestClient, body: str, message: str) -> None:
    error = _error(_invoke(module_client, body, "text/csv"))
    text = error["message"] + " ".join(detail["message"] for detail in error["details"])
    assert message in text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "", "application/json; format=pandas-split", "text/csv; charset=latin-1"],
)
def test_other_content_types_are_415(module_client: TestClient, content_type: str) -> None:
    _error(_invoke(module_client, {"inputs": ROWS}, content_type), 415)


def test_limits_match_predict(artifact_dir: Path) -> None:
    settings = Settings(model_dir=artifact_dir, max_instances=2, max_body_bytes=4096)
    with TestClient(create_app(settings)) as client:
        for payload in ({"inputs": ROWS}, {"dataframe_split": SPLIT}, {"inputs": BY_COLUMN}):
            assert "at most 2" in _error(_invoke(client, payload), 413)["message"]
        _error(_invoke(client, CSV, "text/csv"), 413)
        _error(_invoke(client, {"inputs": ROWS[:1], "pad": "x" * 5000}), 413)


def test_ping_is_readiness(module_client: TestClient) -> None:
    assert module_client.get("/ping").status_code == 200
    paths = module_client.get("/openapi.json").json()["paths"]
    assert {"/invocations", "/ping"} <= set(paths)


def test_an_integral_float_is_an_integer(module_client: TestClient) -> None:
    # pandas sends 2007.0 once an integer column held a missing value.
    body = orjson.dumps({"dataframe_records": ROWS[:1]}).replace(b"2007", b"2007.0", 1)
    response = _invoke(module_client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": LABELS[:1]}
