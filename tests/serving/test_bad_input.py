"""Bad input in process: every row of the README's table, one envelope, nothing echoed back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "s3cr3t-value-7781"  # noqa: S105 (a planted marker, not a credential)
"""Planted in bad values: it must never come back in a response."""
VALID = orjson.dumps(REFERENCE_ROWS[0][0])


def _record(**changes: Any) -> dict[str, Any]:
    return dict(REFERENCE_ROWS[0][0], **changes)


def _body(*records: dict[str, Any]) -> bytes:
    return orjson.dumps({"instances": list(records)})


def _raw(record_json: bytes) -> bytes:
    """A body around one hand-written record, for tokens orjson will not write (NaN, 1e400)."""
    return b'{"instances": [' + record_json + b"]}"


def _without(field: str) -> dict[str, Any]:
    record = _record()
    del record[field]
    return record


@dataclass(frozen=True)
class Case:
    """One row of the README table: what is sent, and the status and code that come back."""

    title: str
    body: bytes
    status: int
    code: str | None
    details: tuple[tuple[int | None, str | None], ...] = ()
    content_type: str | None = "application/json"


def _deeply_nested(depth: int) -> bytes:
    return _raw(VALID[:-1] + b',"extra":' + b"[" * depth + b"]" * depth + b"}")


CASES = [
    Case("malformed JSON", b'{"instances": [{"island": ' + SECRET.encode(), 400, "malformed_json"),
    Case("empty body", b"", 400, "malformed_json"),
    Case("content type not JSON", _body(_record()), 415, "unsupported_media_type", (), "text/csv"),
    Case("content type missing", _body(_record()), 415, "unsupported_media_type", (), None),
    Case("body not an object", b"[]", 422, "invalid_instances", ((None, None),)),
    Case("`instances` missing", b"{}", 422, "invalid_instances", ((None, "instances"),)),
    Case("`instances` not a list", b'{"instances": {}}', 422, "invalid_instances"),
    Case("`instances` empty", b'{"instances": []}', 422, "invalid_instances"),
    Case("`instances` over the cap", _body(*[_record()] * 1001), 413, "payload_too_large"),
    Case("unknown top-level key", b'{"instances": [], "x": 1}', 422, "invalid_instances"),
    Case(
        "a record not an object",
        orjson.dumps({"instances": [1, SECRET]}),
        422,
        "invalid_instances",
        ((0, None), (1, None)),
    ),
    Case("a field missing", _body(_without("sex")), 422, "invalid_instances", ((0, "sex"),)),
    Case(
        "an unknown field",
        _body(_record(colour=SECRET)),
        422,
        "invalid_instances",
        ((0, "colour"),),
    ),
    Case(
        "a string for a number",
        _body(_record(bill_length_mm=SECRET)),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "a number for a string",
        _body(_record(island=7781)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a bool for a string",
        _body(_record(island=True)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a float for an integer",
        _body(_record(year=2007.5)),
        422,
        "invalid_instances",
        ((0, "year"),),
    ),
    Case(
        "NaN",
        _raw(VALID.replace(b"39.1", b"NaN")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "Infinity",
        _raw(VALID.replace(b"39.1", b"-Infinity")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "1e400",
        _raw(VALID.replace(b"39.1", b"1e400")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "a number beyond float32 (1e39)",
        _raw(VALID.replace(b"39.1", b"1e39")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "an integer beyond 2^53 (400 digits)",
        _raw(VALID.replace(b"2007", b"7" * 400)),
        422,
        "invalid_instances",
        ((0, "year"),),
    ),
    Case(
        "`null` where not nullable",
        _body(_record(island=None)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a 1 MB string",
        _body(_record(sex=SECRET * 100_000)),
        422,
        "invalid_instances",
        ((0, "sex"),),
    ),
    Case(
        "a 1 MB field name",
        _body(_record(**{"k" * 1_000_000: 1})),
        422,
        "invalid_instances",
        ((0, "k" * 100 + "..."),),
    ),
    Case(
        "nested JSON inside a record",
        _deeply_nested(50),
        422,
        "invalid_instances",
        ((0, "extra"),),
    ),
    Case("deeply nested JSON (100,000 levels)", _deeply_nested(100_000), 400, "malformed_json"),
    Case(
        "a lone surrogate (`\\ud800`)",
        _raw(VALID.replace(b'"male"', b'"\\ud800"')),
        400,
        "malformed_json",
    ),
    Case(
        "bytes that are not UTF-8",
        _raw(VALID.replace(b'"male"', b'"\xff\xfe"')),
        400,
        "malformed_json",
    ),
    Case(
        "NUL, RTL marks, emoji in a category",
        _body(_record(island="\x00\u202eTorgersen\u200f\U0001f427")),
        200,
        None,
    ),
    Case(
        "RTL marks in a field name",
        _body(_record(**{"\u202eisland": "Dream"})),
        422,
        "invalid_instances",
        ((0, "\u202eisland"),),
    ),
    Case("an unknown category", _body(_record(island="Atlantis")), 200, None),
]
# Rows tested on their own: below (streamed and declared) and under gunicorn (slow client).
TABLE_ONLY = [
    ("a body over the size limit", 413, "payload_too_large"),
    ("a slow client", 200, None),
]


def _post(client: TestClient, body: Any, content_type: str | None = "application/json") -> Any:
    headers = {} if content_type is None else {"content-type": content_type}
    return client.post("/predict", content=body, headers=headers)


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    return dict(body["error"])


@pytest.fixture(scope="module")
def module_client(artifact_dir: Path) -> Iterator[TestClient]:
    """One in-process client for the whole table (the app is stateless per request)."""
    with TestClient(create_app(Settings(model_dir=artifact_dir))) as test_client:
        yield test_client


@pytest.mark.parametrize("case", CASES, ids=[case.title for case in CASES])
def test_bad_input_table(module_client: TestClient, case: Case) -> None:
    response = _post(module_client, case.body, case.content_type)
    assert response.status_code == case.status, response.text[:300]
    assert SECRET not in response.text
    # Errors stay small whatever came in: no value, no megabyte name.
    assert len(response.content) < 2_000
    if case.code is None:
        assert len(response.json()["predictions"]) == 1
        return
    error = _error(response)
    assert error["code"] == case.code
    if case.details:
        assert [(d["row"], d["field"]) for d in error["details"]] == list(case.details)


def test_readme_table_lists_every_case() -> None:
    section = README.read_text().split("## Errors and bad input", 1)[1].split("\n## ", 1)[0]
    rows = {
        match[0]: (int(match[1]), match[2] or None)
        for match in re.findall(r"^\| (.+?) \| (\d{3}) \| (?:`(\w+)`|-) \|", section, re.M)
    }
    expected = [(case.title, case.status, case.code) for case in CASES] + TABLE_ONLY
    assert rows == {title: (status, code) for title, status, code in expected}


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
    response = _post(module_client, _body(dict(REFERENCE_ROWS[1][0]), _record(**{field: value})))
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_instances"
    assert error["details"] == [{"row": 1, "field": field, "message": message}]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_say_so(module_client: TestClient, token: bytes) -> None:
    response = _post(module_client, _raw(VALID.replace(b"39.1", token)))
    assert _error(response)["details"] == [
        {
            "row": 0,
            "field": "bill_length_mm",
            "message": "must be a finite number (not NaN or Infinity)",
        }
    ]


def test_values_at_the_limits_are_accepted(module_client: TestClient) -> None:
    record = _record(bill_length_mm=3.4e38, year=-(2**53), island="x" * 1000)
    assert _post(module_client, _body(record)).status_code == 200


def test_missing_and_unknown_fields_are_both_listed(module_client: TestClient) -> None:
    record = _without("sex")
    record["beak_colour"] = "orange"
    details = _error(_post(module_client, _body(record)))["details"]
    assert {(d["row"], d["field"], d["message"]) for d in details} == {
        (0, "sex", "required field is missing"),
        (0, "beak_colour", "unknown field"),
    }


def test_every_bad_row_is_listed_and_values_never_echoed(module_client: TestClient) -> None:
    rows = [_record(island=7, bill_depth_mm=SECRET) for _ in range(3)]
    response = _post(module_client, _body(_record(), *rows))
    error = _error(response)
    assert error["message"] == "6 invalid value(s) in 3 record(s)"
    assert {d["row"] for d in error["details"]} == {1, 2, 3}
    assert SECRET not in response.text


def test_details_are_capped(module_client: TestClient) -> None:
    error = _error(_post(module_client, _body(*[_record(island=1, sex=2)] * 80)))
    assert error["message"] == "160 invalid value(s) in 80 record(s)"
    assert len(error["details"]) == 100


def test_json_content_type_variants(module_client: TestClient) -> None:
    body = _body(_record())
    for accepted in ("application/json; charset=utf-8", "Application/JSON"):
        assert _post(module_client, body, accepted).status_code == 200
    for refused in ("application/json-patch+json", "text/json", "multipart/form-data"):
        assert _error(_post(module_client, body, refused))["code"] == "unsupported_media_type"


def test_too_many_instances_is_413_at_the_configured_cap(artifact_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=artifact_dir, max_instances=3))) as client:
        assert _post(client, _body(*[_record()] * 3)).status_code == 200
        response = _post(client, _body(*[_record()] * 4))
    assert response.status_code == 413
    assert "at most 3" in _error(response)["message"]


def test_body_over_the_limit_is_413_declared_or_streamed(module_client: TestClient) -> None:
    limit = 1000 * 4096  # the default: MLVAJRA_MAX_INSTANCES x 4 KiB
    record = _body(_record())
    # JSON allows any amount of whitespace: the same record, just under and just over the limit.
    fits = record + b" " * (limit - len(record))
    too_large = fits + b" "
    assert _post(module_client, fits).status_code == 200
    declared = _post(module_client, too_large)
    # No content-length: the limit holds while the body streams in.
    chunks = [too_large[i : i + 65_536] for i in range(0, len(too_large), 65_536)]
    streamed = module_client.post(
        "/predict", content=iter(chunks), headers={"content-type": "application/json"}
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert _error(response)["code"] == "payload_too_large"
