"""Bounded work per request: oversized records refused unvalidated, problems capped, body sized."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.folder import read_manifest
from mlvajra.inputs import BODY_ENVELOPE_BYTES, MAX_STRING_LENGTH, record_json_bytes
from mlvajra.serving.factory import create_app
from tests.serving.requests import SECRET, error_of, penguin, post
from tests.serving.requests import body as make_body


def test_a_record_with_more_keys_than_inputs_is_refused_naming_row_and_count(
    module_client: TestClient,
) -> None:
    extra = {f"extra-{i}": SECRET for i in range(5_000)}
    response = post(module_client, make_body(penguin(), penguin(**extra)))
    assert response.status_code == 422
    assert SECRET not in response.text
    error = error_of(response)
    assert error["code"] == "invalid_instances"
    # The 5,000 extra keys are counted, only the first ones named: the error stays small.
    assert error["message"].startswith("5000 invalid value(s) in 1 record(s)")
    assert {(d["row"], d["message"]) for d in error["details"]} == {(1, "unknown field")}
    assert len(error["details"]) == 100


def test_one_record_with_thousands_of_keys_is_judged_by_the_bounded_path(
    module_client: TestClient,
) -> None:
    # More colons than a valid body holds, fewer strings: parsed once, the row named.
    record = {f"k{i}": 0 for i in range(8_000)}
    error = error_of(post(module_client, orjson.dumps({"instances": [record]})))
    assert error["details"][7] == {"row": 0, "field": "k0", "message": "unknown field"}
    # Its missing fields are named too: the model's own fields are still validated.
    assert error["message"] == "8007 invalid value(s) in 1 record(s)"


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"instances": [{f"k{i}": 0 for i in range(100_000)}]}),
        orjson.dumps({"instances": [{"island": [0] * 100_000}]}),
        orjson.dumps({"instances": [{"island": [{"a": 0}] * 50_000}]}),
    ],
    ids=["keys", "a long list", "a list of objects"],
)
def test_more_than_a_valid_body_holds_is_refused_unread(
    module_client: TestClient, body: bytes
) -> None:
    response = post(module_client, body)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["message"] == (
        "more values than 1000 records of the model's 7 inputs hold; refused unread"
    )


def test_separators_and_escaped_quotes_inside_strings_are_not_structure(
    module_client: TestClient,
) -> None:
    # 1,000 records whose strings hold commas, colons and escaped quotes: valid, scored.
    text = 'a,b:c\\"d,' * 30
    response = post(module_client, make_body(*[penguin(island=text, sex=text)] * 1000))
    assert response.status_code == 200, response.text[:300]


def test_the_body_limit_is_sized_from_the_inputs(artifact_dir: Path) -> None:
    inputs = read_manifest(artifact_dir).inputs
    settings = Settings(model_dir=artifact_dir, max_instances=3)
    assert settings.body_limit == BODY_ENVELOPE_BYTES + 3 * record_json_bytes(inputs)
    assert Settings(model_dir=artifact_dir, max_body_bytes=5000).body_limit == 5000
    # The longest valid records, pretty-printed, fit; and the service answers them.
    longest = {
        spec.name: (
            "\U0001f427" * MAX_STRING_LENGTH
            if spec.type == "string"
            else -(2**53)
            if spec.type == "integer"
            else -2.2250738585072014e-308
        )
        for spec in inputs
    }
    body = json.dumps({"instances": [longest] * 3}, indent=2, ensure_ascii=False).encode()
    assert len(body) <= settings.body_limit
    with TestClient(create_app(settings)) as client:
        assert post(client, body).status_code == 200
        assert post(client, body + b" " * settings.body_limit).status_code == 413
