"""Validation rules in process: wrong values named by row and field, limits, caps, media types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS
from tests.serving.requests import SECRET, VALID, error_of, penguin, post, raw, without
from tests.serving.requests import body as make_body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bill_length_mm", "39.1", "must be a number"),
        ("bill_length_mm", True, "must be a number"),
        ("bill_length_mm", [1.0], "must be a number"),
        ("bill_length_mm", 1e39, "number out of range"),
        ("year", 2007.5, "must be an integer"),
        ("year", "2007", "must be an integer"),
        ("year", None, "must be an integer"),
        ("year", 2**53 + 1, "number out of range"),
        ("island", 3, "must be a string"),
        ("island", False, "must be a string"),
        ("island", None, "must be a string"),
        ("island", "x" * 1001, "string longer than 1000 characters"),
    ],
)
def test_wrong_values_are_422_naming_row_and_field(
    module_client: TestClient, field: str, value: Any, message: str
) -> None:
    response = post(module_client, make_body(dict(REFERENCE_ROWS[1][0]), penguin(**{field: value})))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_instances"
    assert error["details"] == [{"row": 1, "field": field, "message": message}]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_say_so(module_client: TestClient, token: bytes) -> None:
    response = post(module_client, raw(VALID.replace(b"39.1", token)))
    assert error_of(response)["details"] == [
        {
            "row": 0,
            "field": "bill_length_mm",
            "message": "must be a finite number (not NaN or Infinity)",
        }
    ]


def test_values_at_the_limits_are_accepted(module_client: TestClient) -> None:
    record = penguin(bill_length_mm=3.4e38, year=-(2**53), island="x" * 1000)
    assert post(module_client, make_body(record)).status_code == 200


def test_missing_and_unknown_fields_are_both_listed(module_client: TestClient) -> None:
    record = without("sex")
    record["beak_colour"] = "orange"
    details = error_of(post(module_client, make_body(record)))["details"]
    assert {(d["row"], d["field"], d["message"]) for d in details} == {
        (0, "sex", "required field is missing"),
        (0, "beak_colour", "unknown field"),
    }


def test_every_bad_row_is_listed_and_values_never_echoed(module_client: TestClient) -> None:
    rows = [penguin(island=7, bill_depth_mm=SECRET) for _ in range(3)]
    response = post(module_client, make_body(penguin(), *rows))
    error = error_of(response)
    assert error["message"] == "6 invalid value(s) in 3 record(s)"
    assert {d["row"] for d in error["details"]} == {1, 2, 3}
    assert SECRET not in response.text


def test_details_are_capped(module_client: TestClient) -> None:
    # Checking stops at the cap: a hostile body costs no more than 100 problems.
    error = error_of(post(module_client, make_body(*[penguin(island=1, sex=2)] * 80)))
    assert error["message"] == (
        "at least 100 invalid value(s) in at least 50 record(s)"
        " (records from row 50 on not checked)"
    )
    assert len(error["details"]) == 100
    below = error_of(post(module_client, make_body(*[penguin(island=1, sex=2)] * 40)))
    assert below["message"] == "80 invalid value(s) in 40 record(s)"


def test_json_content_type_variants(module_client: TestClient) -> None:
    body = make_body(penguin())
    for accepted in ("application/json; charset=utf-8", "Application/JSON"):
        assert post(module_client, body, accepted).status_code == 200
    for refused in ("application/json-patch+json", "text/json", "multipart/form-data"):
        assert error_of(post(module_client, body, refused))["code"] == "unsupported_media_type"


def test_too_many_instances_is_413_at_the_configured_cap(artifact_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=artifact_dir, max_instances=3))) as client:
        assert post(client, make_body(*[penguin()] * 3)).status_code == 200
        response = post(client, make_body(*[penguin()] * 4))
    assert response.status_code == 413
    assert "at most 3" in error_of(response)["message"]


def test_body_over_the_limit_is_413_declared_or_streamed(
    module_client: TestClient, artifact_dir: Path
) -> None:
    limit = Settings(model_dir=artifact_dir).body_limit
    record = make_body(penguin())
    # JSON allows any amount of whitespace: the same record, just under and just over the limit.
    fits = record + b" " * (limit - len(record))
    too_large = fits + b" "
    assert post(module_client, fits).status_code == 200
    declared = post(module_client, too_large)
    # No content-length: the limit holds while the body streams in.
    chunks = [too_large[i : i + 65_536] for i in range(0, len(too_large), 65_536)]
    streamed = module_client.post(
        "/predict", content=iter(chunks), headers={"content-type": "application/json"}
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"


def test_pandas_records_with_float_integers_are_valid_for_the_api(
    module_client: TestClient,
) -> None:
    frame = pd.DataFrame([row for row, _ in REFERENCE_ROWS]).astype({"year": "float64"})
    response = module_client.post(
        "/predict",
        content=f'{{"instances": {frame.to_json(orient="records")}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    labels = [prediction["label"] for prediction in response.json()["predictions"]]
    assert labels == [label for _, label in REFERENCE_ROWS]
