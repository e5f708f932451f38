"""Binary tensors judged as numpy arrays (`columnar.accept_columns`) answer as their JSON twins.

A request of enough rows for the column checks sends its numbers as binary tensors, built by
tritonclient, with values at and beyond every limit now and then; the same values sent as JSON
data (NaN and Infinity as the bare tokens tritonclient's JSON carries) are judged by the record
rules. The answers, errors and drift counts must be the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvajra.columnar import MIN_ROWS
from mlvajra.errors import MlvajraError
from mlvajra.folder import read_manifest
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.serving.protocols.records import RecordRules
from mlvajra.serving.protocols.v2_binary import NUMPY_TYPES
from mlvajra.serving.protocols.v2_json import V2Codec
from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS

ROWS = [row for row, _ in REFERENCE_ROWS]
OUTPUTS = ("predict", "predict_proba")
DATATYPES = {
    "number": ["FP16", "FP32", "FP64", "INT32", "INT64", "UINT8"],
    "integer": ["INT8", "INT32", "INT64", "UINT64"],
}
EDGES = [
    float("nan"), float("inf"), -float("inf"), 3.5e38, -0.0, 1e-40, 2007.5,
    2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**64 - 1, 255, -1,
]  # fmt: skip


class Twins:
    """One codec; drift counts kept apart for the binary requests and their JSON twins."""

    def __init__(self, model_dir: Path) -> None:
        self.manifest = read_manifest(model_dir)
        self.predictor = Predictor(self.manifest, load_runner(model_dir, self.manifest, "onnx"))
        self.codec = V2Codec(self.manifest, "onnx", RecordRules(self.manifest, 100), None)
        self.live = {kind: LiveCounts(self.manifest.reference) for kind in ("binary", "json")}

    def outcome(self, kind: str, body: bytes, header_length: str | None) -> tuple[Any, ...]:
        live = self.live[kind]
        try:
            (payload, _), _ = self.codec.infer(self.predictor, live, body, header_length, "id")
            answer: tuple[Any, ...] = (json.loads(payload),)
        except MlvajraError as error:
            answer = (type(error).__name__, error.message, error.details)
        finally:
            live.settle()
        return *answer, {key: list(values) for key, values in live.counts.items()}


@pytest.fixture(scope="module")
def twins(artifact_dir: Path) -> Twins:
    return Twins(artifact_dir)


@st.composite
def columns(draw: st.DrawFn) -> dict[str, tuple[str, np.ndarray[Any, Any]]]:
    """name -> (datatype, values) for enough rows, numbers at times off their limits."""
    count = draw(st.integers(MIN_ROWS, MIN_ROWS + 9))
    rows = [ROWS[draw(st.integers(0, len(ROWS) - 1))] for _ in range(count)]
    odds = draw(st.sampled_from([0, 0, 200, 40]))
    found: dict[str, tuple[str, np.ndarray[Any, Any]]] = {}
    for name, datatype in PENGUIN_DATATYPES.items():
        values: list[Any] = [row[name] for row in rows]
        if datatype != "BYTES":
            kind = "integer" if datatype == "INT64" else "number"
            datatype = draw(st.sampled_from(DATATYPES[kind]))
            for index in range(len(values)):
                if odds and draw(st.integers(1, odds)) == 1:
                    values[index] = draw(st.sampled_from(EDGES))
            dtype = NUMPY_TYPES[datatype]
            with np.errstate(all="ignore"):  # what a client's cast gives, wrapped or not
                array = np.array([np.array(v).astype(dtype) for v in values], dtype=dtype)
        else:
            array = np.array(values, dtype=object)
        found[name] = (datatype, array.reshape(-1, 1))
    return found


def _bodies(found: dict[str, tuple[str, np.ndarray[Any, Any]]]) -> tuple[bytes, int, bytes]:
    """The request with binary tensors (and its JSON header's length), and its JSON twin."""
    inputs = []
    for name, (datatype, array) in found.items():
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=True)
        inputs.append(tensor)
    # Outputs as JSON both ways, to compare the answers whole.
    asked = [triton.InferRequestedOutput(name, binary_data=False) for name in OUTPUTS]
    binary, header_length = triton.InferenceServerClient.generate_request_body(inputs, asked)
    tensors = [
        {"name": name, "shape": list(array.shape), "datatype": datatype}
        | {"data": array.reshape(-1).tolist()}
        for name, (datatype, array) in found.items()
    ]
    outputs = [{"name": name} for name in OUTPUTS]
    return binary, header_length, json.dumps({"inputs": tensors, "outputs": outputs}).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(found=columns())
def test_binary_tensors_answer_as_their_json_twins(
    twins: Twins, found: dict[str, tuple[str, np.ndarray[Any, Any]]]
) -> None:
    binary, header_length, twin = _bodies(found)
    assert header_length is not None
    served = twins.outcome("binary", binary, str(header_length))
    assert served == twins.outcome("json", twin, None), twin[:2000]


def test_valid_binary_tensors_are_taken_as_arrays(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = {
        name: (
            datatype,
            np.array(
                [row[name] for row in ROWS * 20],
                dtype=object if datatype == "BYTES" else NUMPY_TYPES[datatype],
            ).reshape(-1, 1),
        )
        for name, datatype in PENGUIN_DATATYPES.items()
    }
    binary, header_length, twin = _bodies(found)
    served = twins.outcome("binary", binary, str(header_length))
    assert served == twins.outcome("json", twin, None)
    assert "outputs" in served[0]
    # Taken whole: never made lists and judged record by record.
    monkeypatch.setattr(twins.codec.rules, "validate", None)
    assert twins.outcome("binary", binary, str(header_length))[0] == served[0]
