"""Drift counting on every scoring route: the same rows give the same `mlvajra_input_bin` counts
whether /predict, V2 (JSON or binary) or MLflow's /invocations carried them."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.monitoring.export import live_totals
from mlvajra.serving.factory import create_app
from mlvajra.serving.state import ServiceState
from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS, v2_inputs

INFER = "/v2/models/penguins/infer"
ROWS = [row for row, _ in REFERENCE_ROWS]
# Values on a bin edge, beyond the reference range, unseen, and missing (NaN on the wire too).
ODD = [
    {**ROWS[0], "bill_length_mm": None, "island": "Atlantis", "year": 2010},
    {**ROWS[1], "bill_length_mm": 42.0, "body_mass_g": 7000, "flipper_length_mm": 150},
    {**ROWS[2], "sex": None, "bill_depth_mm": None},
]
SMALL = ODD[:1]
LARGE = ROWS * 20 + ODD  # 63 rows: V2 takes them a column at a time (`columnar.MIN_ROWS`)
Counts = dict[str, dict[str, float]]
Send = Callable[[TestClient, list[dict[str, Any]]], Any]


@pytest.fixture(scope="module")
def monitored(artifact_dir: Path) -> Iterator[TestClient]:
    """Monitoring on; no periodic flush: the test moves the counts into the counters itself."""
    settings = Settings(model_dir=artifact_dir, monitoring_flush_seconds=60)
    with TestClient(create_app(settings)) as client:
        yield client


def _counted(client: TestClient, send: Send, rows: list[dict[str, Any]]) -> Counts:
    """What one accepted request added to `mlvajra_input_bin`, per feature and bin."""
    state: ServiceState = client.app.state.service  # type: ignore[attr-defined]
    assert state.exporter is not None
    state.exporter.flush()
    before = live_totals("1")
    response = send(client, rows)
    assert response.status_code == 200, response.text
    state.exporter.flush()
    after = live_totals("1")
    return {
        feature: {name: count - before[feature].get(name, 0.0) for name, count in bins.items()}
        for feature, bins in after.items()
    }


def _predict(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    return client.post("/predict", json={"instances": rows})


def _v2_json(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    return client.post(INFER, content=orjson.dumps({"inputs": v2_inputs(rows)}))


def _triton(binary: bool) -> Send:
    """V2 through tritonclient's own request encoder (FP64 numbers: the values sent, unrounded;
    missing numbers as NaN, as a numpy client has them; a null string it cannot send)."""

    def send(client: TestClient, rows: list[dict[str, Any]]) -> Any:
        inputs = []
        for name, datatype in PENGUIN_DATATYPES.items():
            wire_type = "FP64" if datatype == "FP32" else datatype
            values = [math.nan if row[name] is None else row[name] for row in rows]
            dtype = {"BYTES": object, "FP64": np.float64, "INT64": np.int64}[wire_type]
            tensor = triton.InferInput(name, [len(rows), 1], wire_type)
            tensor.set_data_from_numpy(
                np.array(values, dtype=dtype).reshape(-1, 1), binary_data=binary
            )
            inputs.append(tensor)
        body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
        headers = {} if json_size is None else {"Inference-Header-Content-Length": str(json_size)}
        return client.post(INFER, content=body, headers=headers)

    return send


def _mlflow_split(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    """What MLflow's `ScoringServerClient.invoke(frame)` sends: a split frame, NaN for missing."""
    frame = pd.DataFrame(rows).astype({"island": object, "sex": object})
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}, default=int)
    return client.post("/invocations", content=body, headers={"content-type": "application/json"})


def _mlflow_records(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    return client.post("/invocations", json={"dataframe_records": rows})


def _mlflow_csv(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    headers = {"content-type": "text/csv"}
    return client.post("/invocations", content=text.getvalue(), headers=headers)


PROTOCOLS: dict[str, Send] = {
    "v2-json": _v2_json,
    "v2-tritonclient-json": _triton(binary=False),
    "v2-tritonclient-binary": _triton(binary=True),
    "mlflow-dataframe-split": _mlflow_split,
    "mlflow-dataframe-records": _mlflow_records,
    "mlflow-csv": _mlflow_csv,
}


@pytest.mark.parametrize("rows", [SMALL, LARGE], ids=["1-row", "63-rows"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_counts_what_predict_counts(
    monitored: TestClient, protocol: str, rows: list[dict[str, Any]]
) -> None:
    if protocol.startswith("v2-tritonclient"):  # its numpy tensors hold no null string
        rows = [row for row in rows if row["sex"] is not None]
    expected = _counted(monitored, _predict, rows)
    assert sum(expected["island"].values()) == len(rows)
    assert sum(expected["__prediction__"].values()) == len(rows)
    assert _counted(monitored, PROTOCOLS[protocol], rows) == expected


def test_the_odd_values_land_in_their_own_bins(monitored: TestClient) -> None:
    counts = _counted(monitored, _triton(binary=True), LARGE[:-1])
    assert counts["island"]["__other__"] == 1
    assert counts["year"]["__other__"] == 1
    assert counts["bill_length_mm"]["__missing__"] == 1
    assert counts["body_mass_g"]["above"] == 1
    assert counts["flipper_length_mm"]["below"] == 1


@pytest.mark.parametrize("rows", [SMALL, LARGE], ids=["1-row", "63-rows"])
def test_rejected_requests_count_nothing(monitored: TestClient, rows: list[dict[str, Any]]) -> None:
    bad = [*rows[:-1], {**ROWS[0], "year": -(2**60)}]  # beyond the integer limit
    state: ServiceState = monitored.app.state.service  # type: ignore[attr-defined]
    assert state.codec is not None
    assert state.codec.live is not None
    before = {name: list(counts) for name, counts in state.codec.live.counts.items()}
    for send in (_v2_json, _triton(binary=True), _mlflow_records, _mlflow_csv):
        assert send(monitored, bad).status_code == 400, send
    assert state.codec.live.counts == before


def test_monitoring_off_counts_nothing(artifact_dir: Path) -> None:
    before = live_totals("1")
    settings = Settings(model_dir=artifact_dir, monitoring=False)
    with TestClient(create_app(settings)) as client:
        for send in PROTOCOLS.values():
            assert send(client, LARGE[:-1]).status_code == 200
    # The lifespan's end flushes whatever a worker counted.
    assert live_totals("1") == before
