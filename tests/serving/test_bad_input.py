"""Bad input in process: every row of the README's table, one envelope, nothing echoed back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.serving.requests import SECRET, VALID, error_of, penguin, post, raw, without
from tests.serving.requests import body as make_body

README = Path(__file__).resolve().parents[2] / "README.md"


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
    return raw(VALID[:-1] + b',"extra":' + b"[" * depth + b"]" * depth + b"}")


CASES = [
    Case("malformed JSON", b'{"instances": [{"island": ' + SECRET.encode(), 400, "malformed_json"),
    Case("empty body", b"", 400, "malformed_json"),
    Case(
        "content type not JSON", make_body(penguin()), 415, "unsupported_media_type", (), "text/csv"
    ),
    Case("content type missing", make_body(penguin()), 415, "unsupported_media_type", (), None),
    Case("body not an object", b"[]", 422, "invalid_instances", ((None, None),)),
    Case("`instances` missing", b"{}", 422, "invalid_instances", ((None, "instances"),)),
    Case("`instances` not a list", b'{"instances": {}}', 422, "invalid_instances"),
    Case("`instances` empty", b'{"instances": []}', 422, "invalid_instances"),
    Case("`instances` over the cap", make_body(*[penguin()] * 1001), 413, "payload_too_large"),
    Case("unknown top-level key", b'{"instances": [], "x": 1}', 422, "invalid_instances"),
    Case(
        "a record not an object",
        orjson.dumps({"instances": [1, SECRET]}),
        422,
        "invalid_instances",
        ((0, None), (1, None)),
    ),
    Case("a field missing", make_body(without("sex")), 422, "invalid_instances", ((0, "sex"),)),
    Case(
        "an unknown field",
        make_body(penguin(colour=SECRET)),
        422,
        "invalid_instances",
        ((0, "colour"),),
    ),
    Case(
        "more fields in a record than the model has inputs",
        make_body(penguin(colour=SECRET, shade=SECRET)),
        422,
        "invalid_instances",
        ((0, "colour"), (0, "shade")),
    ),
    Case(
        "more values than any valid body holds",
        orjson.dumps({"instances": [{"island": [0] * 100_000}]}),
        413,
        "payload_too_large",
    ),
    Case(
        "a string for a number",
        make_body(penguin(bill_length_mm=SECRET)),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "a number for a string",
        make_body(penguin(island=7781)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a bool for a string",
        make_body(penguin(island=True)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a float for an integer",
        make_body(penguin(year=2007.5)),
        422,
        "invalid_instances",
        ((0, "year"),),
    ),
    Case("an integral float for an integer (`2007.0`)", make_body(penguin(year=2007.0)), 200, None),
    Case(
        "a bool for an integer",
        make_body(penguin(year=True)),
        422,
        "invalid_instances",
        ((0, "year"),),
    ),
    Case(
        "a duplicate key in a record",
        make_body(penguin(), penguin()).replace(b'"sex":', b'"year":2008,"sex":', 2),
        422,
        "invalid_instances",
        ((0, "year"), (1, "year")),
    ),
    Case(
        "a duplicate key, a colon in a string",
        raw(VALID.replace(b'"island":', b'"island":"a:b","island":')),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case("a colon in a string, no duplicate", make_body(penguin(island="a:b")), 200, None),
    Case(
        "NaN",
        raw(VALID.replace(b"39.1", b"NaN")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "Infinity",
        raw(VALID.replace(b"39.1", b"-Infinity")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "1e400",
        raw(VALID.replace(b"39.1", b"1e400")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "a number beyond float32 (1e39)",
        raw(VALID.replace(b"39.1", b"1e39")),
        422,
        "invalid_instances",
        ((0, "bill_length_mm"),),
    ),
    Case(
        "an integer beyond 2^53 (400 digits)",
        raw(VALID.replace(b"2007", b"7" * 400)),
        422,
        "invalid_instances",
        ((0, "year"),),
    ),
    Case(
        "`null` where not nullable",
        make_body(penguin(island=None)),
        422,
        "invalid_instances",
        ((0, "island"),),
    ),
    Case(
        "a 1 MB string",
        make_body(penguin(sex=SECRET * 100_000)),
        422,
        "invalid_instances",
        ((0, "sex"),),
    ),
    Case(
        "a 1 MB field name",
        make_body(penguin(**{"k" * 1_000_000: 1})),
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
        raw(VALID.replace(b'"male"', b'"\\ud800"')),
        400,
        "malformed_json",
    ),
    Case(
        "bytes that are not UTF-8",
        raw(VALID.replace(b'"male"', b'"\xff\xfe"')),
        400,
        "malformed_json",
    ),
    Case(
        "NUL, RTL marks, emoji in a category",
        make_body(penguin(island="\x00\u202eTorgersen\u200f\U0001f427")),
        200,
        None,
    ),
    Case(
        "RTL marks in a field name",
        make_body(penguin(**{"\u202eisland": "Dream"})),
        422,
        "invalid_instances",
        ((0, "\u202eisland"),),
    ),
    Case("an unknown category", make_body(penguin(island="Atlantis")), 200, None),
]
# Rows tested on their own: in test_validation_rules.py (the cap, a body over the size limit,
# streamed and declared) and under gunicorn (slow client).
TABLE_ONLY = [
    ("more than 100 bad values", 422, "invalid_instances"),  # test_validation_rules.py
    ("a body over the size limit", 413, "payload_too_large"),
    ("a slow client", 200, None),
    # tests/topology/test_edge_limits.py: nginx's per-address limit_conn.
    ("too many requests at once from one address", 429, "rate_limited"),
    # tests/topology/test_edge_hygiene.py: nginx's own errors, through real nginx.
    ("a request line nginx cannot parse", 400, "bad_request"),
    ("a method nginx refuses (`TRACE`)", 405, "method_not_allowed"),
    ("a request line over 8 KiB", 414, "uri_too_long"),
    ("an unknown `Transfer-Encoding`", 501, "not_implemented"),
    # tests/serving/test_http_hygiene.py.
    ("a trailing slash (`/health/`, any `Host`)", 404, "not_found"),
    ("`HEAD /health`, `HEAD /ready`", 200, None),
]


@pytest.mark.parametrize("case", CASES, ids=[case.title for case in CASES])
def test_bad_input_table(module_client: TestClient, case: Case) -> None:
    response = post(module_client, case.body, case.content_type)
    assert response.status_code == case.status, response.text[:300]
    assert SECRET not in response.text
    # Errors stay small whatever came in: no value, no megabyte name.
    assert len(response.content) < 2_000
    if case.code is None:
        assert len(response.json()["predictions"]) == 1
        return
    error = error_of(response)
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
