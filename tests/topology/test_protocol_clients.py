"""tritonclient, unchanged, against a real gunicorn: health, metadata, JSON and binary inference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS, penguin_column
from tests.topology.processes import Gunicorn

pytestmark = pytest.mark.topology
ROWS = [row for row, _ in REFERENCE_ROWS]
LABELS = [label for _, label in REFERENCE_ROWS]


@pytest.fixture(scope="module")
def server(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn (one worker) for every call in this module."""
    with Gunicorn(artifact_dir, tmp_path_factory.mktemp("protocols"), workers=1) as gunicorn:
        yield gunicorn


def _triton(server: Gunicorn) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")


def _triton_inputs(rows: list[dict[str, Any]], binary: bool) -> list[triton.InferInput]:
    inputs = []
    for name, datatype in PENGUIN_DATATYPES.items():
        tensor = triton.InferInput(name, [len(rows), 1], datatype)
        tensor.set_data_from_numpy(penguin_column(rows, name), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_health_and_metadata(server: Gunicorn) -> None:
    client = _triton(server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("penguins")
    assert client.is_model_ready("penguins", "1")
    assert not client.is_model_ready("penguins", "7")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("penguins", "1")
    assert {
        tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]
    } == PENGUIN_DATATYPES
    assert [tensor["name"] for tensor in metadata["outputs"]] == ["predict", "predict_proba"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infer_named_outputs(server: Gunicorn, binary: bool) -> None:
    client = _triton(server)
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer(
        "penguins", _triton_inputs(ROWS, binary), outputs=outputs, request_id="tri-1"
    )
    labels = result.as_numpy("predict")
    assert labels is not None
    assert labels.shape == (3, 1)
    # Binary BYTES come back as bytes, JSON BYTES as str (tritonclient's own convention).
    decoded = [value.decode() if binary else value for value in labels.reshape(-1).tolist()]
    assert decoded == LABELS
    probabilities = result.as_numpy("predict_proba")
    assert probabilities is not None
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (3, 3)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert result.get_response()["id"] == "tri-1"


def test_tritonclient_default_binary_request(server: Gunicorn) -> None:
    """No outputs named: tritonclient asks for every output in binary; versioned path."""
    result = _triton(server).infer("penguins", _triton_inputs(ROWS, True), model_version="1")
    labels = result.as_numpy("predict")
    assert labels is not None
    assert [value.decode() for value in labels.reshape(-1).tolist()] == LABELS
    assert result.as_numpy("predict_proba") is not None


def test_tritonclient_missing_values_and_errors(server: Gunicorn) -> None:
    client = _triton(server)
    row = dict(ROWS[0], bill_length_mm=float("nan"))
    for binary in (False, True):
        result = client.infer("penguins", _triton_inputs([row], binary))
        assert result.as_numpy("predict") is not None
    bad = _triton_inputs([ROWS[0]], True)
    year = triton.InferInput("year", [1, 1], "FP32")
    year.set_data_from_numpy(np.array([[2007.0]], dtype=np.float32))
    with pytest.raises(InferenceServerException) as raised:
        client.infer("penguins", [*bad[:-1], year])
    assert raised.value.status() == "400"
    assert "year" in str(raised.value.message())
    with pytest.raises(InferenceServerException) as raised:
        client.infer("nope", bad)
    assert raised.value.status() == "404"
