"""V2 JSON's one-pass path (`PlainRequests`) answers exactly as the general path would.

Every request, valid or not, goes through `V2Codec.infer` twice: as served, and with the one-pass
path switched off. The responses (bytes), the errors (kind, message, details) and the drift
counts must be the same; and the common requests must take the one-pass path at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvajra.artifact import InputSpec
from mlvajra.errors import MlvajraError
from mlvajra.folder import read_manifest
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.serving.protocols.records import RecordRules
from mlvajra.serving.protocols.v2_json import V2Codec
from mlvajra.serving.protocols.v2_tensors import PlainRequests
from tests.fixtures import REFERENCE_ROWS, v2_inputs

ROWS = [row for row, _ in REFERENCE_ROWS]
MAX_INSTANCES = 20
DATATYPES = ["BYTES", "FP16", "FP32", "FP64", "INT8", "INT32", "INT64", "UINT64", "BOOL", "X"]
SHAPES: list[Callable[[int], Any]] = [
    lambda n: [n],
    lambda n: [n, 1],
    lambda n: [n, 2],
    lambda n: [n + 1, 1],
    lambda n: [0],
    lambda n: [-1, 1],
    lambda n: [str(n)],
    lambda n: [n, 1, 1],
    lambda n: [float(n), 1],
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2007, 2007.0, 2007.5, 2**53 + 1, -(2**53) - 1, 3.5e38, -1e39, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.sampled_from(["Dream", "Biscoe", "male", "female", "x" * 300]),
    st.lists(st.integers(0, 3), max_size=1),
)


class Paths:
    """One codec as served and one with the one-pass path off, each with its drift counts."""

    def __init__(self, model_dir: Path) -> None:
        manifest = read_manifest(model_dir)
        self.predictor = Predictor(manifest, load_runner(model_dir, manifest, "onnx"))
        rules = RecordRules(manifest, MAX_INSTANCES)
        self.served = V2Codec(manifest, "onnx", rules, None)
        self.general = V2Codec(manifest, "onnx", rules, None)
        self.general._plain.read = lambda parsed: None  # type: ignore[method-assign]
        self.live = {
            "served": LiveCounts(manifest.reference),
            "general": LiveCounts(manifest.reference),
        }
        self.taken = 0
        read = self.served._plain.read

        def counted(parsed: Any) -> Any:
            found = read(parsed)
            self.taken += found is not None
            return found

        self.served._plain.read = counted  # type: ignore[method-assign]

    def outcome(self, name: str, body: bytes) -> tuple[Any, ...]:
        codec = self.served if name == "served" else self.general
        live = self.live[name]
        try:
            (payload, length), _ = codec.infer(self.predictor, live, body, None, "rid")
            answer: tuple[Any, ...] = (payload, length)
        except MlvajraError as error:
            answer = (type(error).__name__, error.message, error.details)
        finally:
            live.settle()  # as the service does after every request, answered or refused
        return *answer, {key: list(values) for key, values in live.counts.items()}

    def assert_same(self, body: bytes) -> tuple[Any, ...]:
        served = self.outcome("served", body)
        assert served == self.outcome("general", body), body
        return served


@pytest.fixture(scope="module")
def paths(artifact_dir: Path) -> Paths:
    return Paths(artifact_dir)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A V2 request near the model's: valid, or off in one or more ways."""
    rows = draw(st.integers(1, 4))
    tensors = v2_inputs([ROWS[draw(st.integers(0, len(ROWS) - 1))] for _ in range(rows)])
    # How often each tensor is changed: never (a valid request), now and then, or often.
    odds = draw(st.sampled_from([0, 0, 60, 20, 5]))

    def changed() -> bool:
        return odds > 0 and draw(st.integers(1, odds)) == 1

    for tensor in tensors:
        if changed():
            tensor["data"] = [draw(VALUES) for _ in range(rows)]
        if changed():
            tensor["datatype"] = draw(st.sampled_from(DATATYPES))
        if changed():
            tensor["shape"] = draw(st.sampled_from(SHAPES))(rows)
        if changed():
            tensor["data"] = [[value] for value in tensor["data"]]
        if changed():
            key = draw(st.sampled_from(["parameters", "extra"]))
            tensor[key] = draw(st.sampled_from([{}, {"binary_data_size": 4}, 1]))
    edits = ["none", "drop", "repeat", "replace", "unknown", "reorder"]
    edit = draw(st.sampled_from(edits)) if changed() else "none"
    if edit == "drop":
        tensors.pop(draw(st.integers(0, len(tensors) - 1)))
    elif edit == "repeat":
        tensors.append(dict(tensors[draw(st.integers(0, len(tensors) - 1))]))
    elif edit == "replace":  # one input twice, another missing
        tensors[draw(st.integers(1, len(tensors) - 1))] = dict(tensors[0])
    elif edit == "unknown":
        tensors.append({**tensors[0], "name": "nope"})
    elif edit == "reorder":
        tensors.reverse()
    request: dict[str, Any] = {"inputs": tensors}
    for key, value in draw(
        st.dictionaries(
            st.sampled_from(["id", "parameters", "outputs", "model_name"]),
            st.sampled_from(
                [
                    "req-1",
                    5,
                    {},
                    {"binary_data_output": True},
                    [{"name": "predict"}],
                    [{"name": "predict_proba", "parameters": {"binary_data": True}}],
                    [{"name": "nope"}],
                ]
            ),
            max_size=3,
        )
    ).items():
        request[key] = value
    return request


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_every_request_is_answered_as_the_general_path_answers_it(
    paths: Paths, request: dict[str, Any]
) -> None:
    paths.assert_same(orjson.dumps(request))


def _single_changes() -> list[list[dict[str, Any]]]:
    """A valid request of two rows changed in one place: each tensor's shape, datatype and
    data, each replaced by another, and the order of the tensors."""
    changed: list[list[dict[str, Any]]] = []
    base = v2_inputs(ROWS[:2])
    for index, tensor in enumerate(base):
        variants = [{**tensor, "shape": shape(2)} for shape in SHAPES]
        variants += [{**tensor, "datatype": datatype} for datatype in DATATYPES]
        datas = (
            [],
            [None, None],
            [1, 2],
            [[1], [2]],
            [2007.5, 2007.0],
            [2007.0, 2008.0],
            [True, 1],
        )
        variants += [{**tensor, "data": data} for data in datas]
        variants += [{**other, "shape": tensor["shape"]} for other in base]
        changed += [[*base[:index], variant, *base[index + 1 :]] for variant in variants]
    return [*changed, base[::-1]]


def test_each_single_change_is_answered_as_the_general_path_answers_it(paths: Paths) -> None:
    answers = [
        paths.assert_same(orjson.dumps({"inputs": tensors})) for tensors in _single_changes()
    ]
    refused = [answer for answer in answers if isinstance(answer[0], str)]
    assert 0 < len(refused) < len(answers)


@pytest.mark.parametrize("shape_1d", [False, True])
@pytest.mark.parametrize(
    "extra",
    [{}, {"id": "req-1"}, {"outputs": [{"name": "predict"}]}, {"parameters": {"a": 1}}],
)
def test_common_requests_take_the_one_pass_path(
    paths: Paths, shape_1d: bool, extra: dict[str, Any]
) -> None:
    before = paths.taken
    for rows in (ROWS[:1], ROWS[:7]):
        body = orjson.dumps({"inputs": v2_inputs(rows, shape_1d), **extra})
        assert isinstance(paths.assert_same(body)[0], bytes)
    assert paths.taken == before + 2


def test_what_the_one_pass_path_leaves_to_the_general_one(paths: Paths) -> None:
    """Nested data, NaN (a missing value in a nullable field), an integer datatype for a number,
    a tensor's parameters: each is answered, by the general path."""
    plain = PlainRequests(paths.served.manifest, MAX_INSTANCES)
    base = v2_inputs(ROWS[:2])
    nested = [{**tensor, "data": [[value] for value in tensor["data"]]} for tensor in base]
    integer = [
        {**tensor, "datatype": "INT64", "data": [40, 41]}
        if tensor["datatype"] == "FP32"
        else tensor
        for tensor in base
    ]
    described = [{**tensor, "parameters": {"content_type": "np"}} for tensor in base]
    for tensors in (nested, integer, described):
        assert plain.read(orjson.dumps({"inputs": tensors})) is None
        before = paths.taken
        assert isinstance(paths.assert_same(orjson.dumps({"inputs": tensors}))[0], bytes)
        assert paths.taken == before
    with_nan = orjson.dumps({"inputs": base}).replace(b"39.1", b"NaN", 1)
    assert b"NaN" in with_nan
    assert isinstance(paths.assert_same(with_nan)[0], bytes)


def test_duplicate_keys_anywhere_are_refused_as_the_general_path_refuses_them(
    paths: Paths,
) -> None:
    body = orjson.dumps(
        {
            "id": "a:b",  # a colon in a string is no key
            "parameters": {"p": {"q": 1}},
            "inputs": v2_inputs(ROWS[:2]),
            "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
        }
    )
    before = paths.taken
    assert isinstance(paths.assert_same(body)[0], bytes)
    assert paths.taken == before + 1
    for key, twice in (
        (b'"id":"a:b"', b'"id":"x","id":"a:b"'),
        (b'"q":1', b'"q":1,"q":2'),
        (b'"name":"island"', b'"name":"island","name":"island"'),
        (b'"binary_data":false', b'"binary_data":false,"binary_data":true'),
    ):
        assert key in body
        refused = paths.assert_same(body.replace(key, twice, 1))
        assert refused[0] == "InvalidInstancesError", refused
        assert "duplicate" in refused[1]
    assert paths.taken == before + 1


def test_inputs_named_as_no_python_attribute_can_be() -> None:
    inputs = [
        InputSpec(name="sepal length (cm)", type="number", nullable=True),
        InputSpec(name="class", type="string", nullable=False),
    ]
    plain = PlainRequests(SimpleNamespace(inputs=inputs), MAX_INSTANCES)  # type: ignore[arg-type]
    tensors = [
        {"name": "class", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "sepal length (cm)", "shape": [2, 1], "datatype": "FP32", "data": [5.1, None]},
    ]
    read = plain.read(orjson.dumps({"inputs": tensors}))
    assert read is not None
    assert read[1] == [[5.1, None], ["a", "b"]]
    assert read[2] == [
        {"sepal length (cm)": 5.1, "class": "a"},
        {"sepal length (cm)": None, "class": "b"},
    ]
