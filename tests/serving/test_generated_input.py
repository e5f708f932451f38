"""Generated input: schemathesis against /openapi.json, hypothesis against the predictor.

Any request gets an answer below 500 in the one envelope; any JSON value gets either one prediction
per instance, in order, or a 4xx that names exactly the bad rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from mlvajra.artifact import InputSpec
from mlvajra.config import Settings
from mlvajra.errors import InvalidInstancesError, MlvajraError
from mlvajra.folder import read_manifest
from mlvajra.inputs import FLOAT32_MAX, INTEGER_LIMIT, MAX_STRING_LENGTH
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.serving.codec import PredictCodec
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS, validate_rows

# Requests per mode for /predict, which carries the weight: the GETs have no input to vary.
# Negative cases cost twice the generation time of positive ones (about 20 ms against 11 ms).
# 5,000 requests took 310 s of a 2-core CI run shared with the other tests; the hypothesis
# tests below vary /predict's records more cheaply, in process.
PREDICT_EXAMPLES = {GenerationMode.POSITIVE: 1_000, GenerationMode.NEGATIVE: 600}
PROTOCOL_EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
MIN_GENERATED_REQUESTS = 1_600
MAX_INSTANCES = 5
# Generation is schemathesis' and hypothesis' business: their speed and size checks are noise here.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def _assert_envelope(response: Any) -> None:
    """The one envelope, or on a protocol's routes its own shape with the envelope's fields."""
    body = response.json()
    path = httpx.URL(response.request.url).path
    if path.startswith("/v2"):
        assert isinstance(body["error"], str), body
        assert set(body) == {"error", "code", "details", "request_id"}, body
    elif path in ("/invocations", "/ping"):
        assert set(body) == {"error_code", "message", "code", "details", "request_id"}, body
    else:
        assert set(body) == {"error"}, body
        assert {"code", "message", "details"} <= set(body["error"]), body
        body = body["error"]
    assert isinstance(body["details"], list)


def _run_operation(
    operation: Any, mode: GenerationMode, examples: int, statuses: Counter[tuple[str, int]]
) -> None:
    """Send `examples` generated requests to one operation, checking each answer."""

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=_QUIET)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call()
        statuses[(operation.label, response.status_code)] += 1
        assert response.status_code < 500, (response.status_code, response.text[:500])
        if response.status_code >= 300:
            _assert_envelope(response)
        elif operation.label == "POST /predict":
            sent = orjson.loads(response.request.body)
            assert len(response.json()["predictions"]) == len(sent["instances"])

    check()


def test_schemathesis_finds_no_5xx_and_only_enveloped_errors(artifact_dir: Path) -> None:
    app = create_app(Settings(model_dir=artifact_dir))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label == "POST /predict":
            for mode, examples in PREDICT_EXAMPLES.items():
                _run_operation(operation, mode, examples, statuses)
        elif operation.body:
            # The protocol routes' bodies are free-form objects to the schema: their own tests
            # (tests/serving/protocols) vary them; here they only must not 5xx.
            for mode, examples in PROTOCOL_EXAMPLES.items():
                _run_operation(operation, mode, examples, statuses)
        else:
            # Nothing to vary (negative generation is unsatisfiable): a few calls suffice.
            _run_operation(operation, GenerationMode.POSITIVE, 5, statuses)
    total = sum(statuses.values())
    print(f"schemathesis: {total} requests, by operation and status: {dict(statuses)}")
    assert total >= MIN_GENERATED_REQUESTS
    assert not [key for key in statuses if key[1] >= 500]
    # Both kinds of answers were reached, so the generator did not only produce junk.
    assert statuses[("POST /predict", 200)] > 100
    assert statuses[("POST /predict", 422)] > 100


@pytest.fixture(scope="module")
def codec(artifact_dir: Path) -> PredictCodec:
    """The real predictor on the real ONNX artifact, with a small instance cap to reach 413."""
    manifest = read_manifest(artifact_dir)
    return PredictCodec(
        Predictor(manifest, load_runner(artifact_dir, manifest, "onnx")), MAX_INSTANCES
    )


def _value_is_valid(value: Any, spec: InputSpec) -> bool:
    """An oracle written apart from the pydantic model: what the manifest says a value may be."""
    if value is None:
        return spec.nullable
    if spec.type == "string":
        return isinstance(value, str) and len(value) <= MAX_STRING_LENGTH
    if spec.type == "boolean" or isinstance(value, bool):
        return spec.type == "boolean" and isinstance(value, bool)
    if spec.type == "integer":
        # JSON Schema's integer: any number with an integral value (2007.0 too).
        integral = isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
        return integral and abs(value) <= INTEGER_LIMIT
    if not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and abs(number) <= FLOAT32_MAX


def _row_is_valid(row: Any, inputs: list[InputSpec]) -> bool:
    if not isinstance(row, dict) or set(row) != {spec.name for spec in inputs}:
        return False
    return all(_value_is_valid(row[spec.name], spec) for spec in inputs)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["Torgersen", "Biscoe", "Dream", "male", "female", "", "x" * 1001])
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

# Values at and just past every limit the validator enforces.
edges = st.sampled_from(
    [
        INTEGER_LIMIT,
        INTEGER_LIMIT + 1,
        -INTEGER_LIMIT - 1,
        10**400,
        FLOAT32_MAX,
        1e39,
        -1e308,
        -0.0,
        2007.0,
        True,
        "x" * MAX_STRING_LENGTH,
        "x" * (MAX_STRING_LENGTH + 1),
        "\x00\u202e",
    ]
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A reference record, often left valid, else with fields replaced, dropped or added."""
    record = dict(draw(st.sampled_from(REFERENCE_ROWS))[0])
    for name in list(record):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            record[name] = draw(json_values)
        elif choice == 1:
            record[name] = None
        elif choice == 2:
            record[name] = draw(edges)
        elif choice == 3 and draw(st.booleans()):
            del record[name]
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.text(max_size=8))] = draw(json_values)
    return record


bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(records(), max_size=MAX_INSTANCES + 2)}),
    st.fixed_dictionaries({"instances": st.lists(records() | json_values, max_size=4)}),
    json_values,
)


def _outcome(codec: PredictCodec, raw: bytes) -> bytes | MlvajraError:
    """The response body, or the error the route would turn into a response."""
    try:
        payload, _ = codec.predict(raw, "generated")
    except MlvajraError as error:
        return error
    return payload


def _single(codec: PredictCodec, row: Any) -> Any:
    payload, _ = codec.predict(orjson.dumps({"instances": [row]}), "generated")
    return orjson.loads(payload)["predictions"][0]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=_QUIET)
@given(body=bodies)
def test_any_json_gives_ordered_predictions_or_a_4xx_naming_the_bad_rows(
    codec: PredictCodec, body: Any
) -> None:
    # json.dumps writes NaN and Infinity as bare tokens, as a careless client would.
    outcome = _outcome(codec, json.dumps(body).encode())
    instances = body.get("instances") if isinstance(body, dict) else None
    inputs = codec.predictor.manifest.inputs
    if isinstance(outcome, MlvajraError):
        assert 400 <= outcome.status_code < 500
        if not (isinstance(instances, list) and set(body) == {"instances"}):
            return
        if not 1 <= len(instances) <= MAX_INSTANCES:
            assert outcome.status_code in (413, 422)
            return
        assert isinstance(outcome, InvalidInstancesError)
        named = {detail["row"] for detail in outcome.details}
        assert named == {i for i, row in enumerate(instances) if not _row_is_valid(row, inputs)}
        return
    assert isinstance(instances, list)
    assert all(_row_is_valid(row, inputs) for row in instances)
    predictions = orjson.loads(outcome)["predictions"]
    assert len(predictions) == len(instances)
    for row, prediction in zip(instances, predictions, strict=True):
        alone = _single(codec, row)
        assert prediction["label"] == alone["label"]
        for name, probability in prediction["probabilities"].items():
            assert abs(probability - alone["probabilities"][name]) <= 1e-6


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=_QUIET)
@given(rows=st.lists(records() | json_values, max_size=8))
def test_row_validation_keeps_exactly_the_valid_rows(codec: PredictCodec, rows: list[Any]) -> None:
    records_, kept, problems = validate_rows(codec.predictor.manifest, rows)
    valid = [i for i, row in enumerate(rows) if _row_is_valid(row, codec.predictor.manifest.inputs)]
    assert kept == valid
    assert len(records_) == len(kept)
    assert {problem.row for problem in problems} == set(range(len(rows))) - set(valid)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=_QUIET)
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_a_4xx(codec: PredictCodec, raw: bytes) -> None:
    outcome = _outcome(codec, raw)
    assert isinstance(outcome, MlvajraError)
    assert 400 <= outcome.status_code < 500


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=_QUIET)
@given(index=st.integers(0, len(REFERENCE_ROWS[0][0]) - 1), value=json_values | edges)
def test_one_changed_value_is_accepted_exactly_when_the_manifest_allows_it(
    codec: PredictCodec, index: int, value: Any
) -> None:
    spec = codec.predictor.manifest.inputs[index]
    row = dict(REFERENCE_ROWS[0][0], **{spec.name: value})
    outcome = _outcome(codec, json.dumps({"instances": [row]}).encode())
    if _value_is_valid(value, spec):
        assert isinstance(outcome, bytes), outcome
    else:
        assert isinstance(outcome, InvalidInstancesError)
        assert [(d["row"], d["field"]) for d in outcome.details] == [(0, spec.name)]
