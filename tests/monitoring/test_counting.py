"""Live counting in the service: what is counted, where it lands, what /drift says of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from mlvajra.artifact import FeatureReference
from mlvajra.config import Settings
from mlvajra.folder import read_manifest
from mlvajra.monitoring.counting import PREDICTION, SMALL_REQUEST, LiveCounts
from mlvajra.monitoring.export import Exporter, live_totals
from mlvajra.predictor import Predictor
from mlvajra.serving.factory import create_app
from mlvajra.serving.state import ServiceState
from tests.fixtures import REFERENCE_ROWS


def _n(client: TestClient, feature: str = "island") -> int:
    drift = client.get("/drift").json()
    figures = drift["prediction"] if feature == PREDICTION else drift["features"][feature]
    count: int = figures["n"]
    return count


def test_the_record_path_and_the_column_path_count_alike(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.reference is not None
    records = [dict(row) for row, _ in REFERENCE_ROWS] * 7  # 21 records, past SMALL_REQUEST
    records[0] = {**records[0], "sex": None, "bill_length_mm": 99.0, "island": "Atlantis"}
    assert len(records) > SMALL_REQUEST
    columns = Predictor(manifest, runner=None).columns(records)  # type: ignore[arg-type]
    labels = np.array(["Adelie", "Gentoo", "Chinstrap"] * 7, dtype=object)
    one_by_one, at_once = LiveCounts(manifest.reference), LiveCounts(manifest.reference)
    for i, record in enumerate(records):
        single = {name: column[i : i + 1] for name, column in columns.items()}
        one_by_one.count([record], single, labels[i : i + 1])
    at_once.count(records, columns, labels)
    assert one_by_one.counts == at_once.counts
    for counts in at_once.counts.values():
        assert sum(counts) == len(records)

    def bins(feature: str) -> dict[str, int]:
        return dict(zip(at_once.binners[feature].bins, at_once.counts[feature], strict=True))

    assert bins("bill_length_mm")["above"] == 1
    assert bins("island")["__other__"] == 1
    assert bins("sex")["__missing__"] == 1


def test_numeric_class_labels_are_counted_as_their_text_in_both_paths(
    artifact_dir: Path,
) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.reference is not None
    # A model whose classes are 0 and 1: the reference names them "0" and "1".
    prediction = FeatureReference(
        kind="categorical",
        categories=["0", "1"],
        bins=["0", "1", "__other__"],
        ratios=[0.5, 0.4, 0.1],
        min_count=10,
    )
    reference = manifest.reference.model_copy(update={"prediction": prediction})
    records = [dict(row) for row, _ in REFERENCE_ROWS] * 7
    columns = Predictor(manifest, runner=None).columns(records)  # type: ignore[arg-type]
    labels = np.array([0, 1, 1] * 7)
    for request in ([records[:1]] * 3, [records]):  # the record path, then the column path
        live = LiveCounts(reference)
        for part in request:
            live.count(part, columns, labels[: len(part)])
        kept = live.counts[PREDICTION]
        assert kept[2] == 0, "a numeric label is its class's text, never __other__"
        assert kept[:2] == ([3, 0] if len(request) == 3 else [7, 14])


def test_accepted_records_are_counted_and_rejected_ones_are_not(
    client: TestClient, record: dict[str, Any]
) -> None:
    before = _n(client)  # the in-process registry is shared by every app of the test session
    assert client.post("/predict", json={"instances": [record] * 3}).status_code == 200
    assert client.post("/predict", json={"instances": [record] * 40}).status_code == 200
    bad = {**record, "bill_length_mm": "long"}
    assert client.post("/predict", json={"instances": [record, bad]}).status_code == 422
    assert _n(client) == before + 43
    assert _n(client, PREDICTION) == before + 43


def test_unseen_values_fold_into_the_manifest_bins(
    client: TestClient, record: dict[str, Any]
) -> None:
    unseen = {**record, "island": "Atlantis-" + "x" * 50}
    before = client.get("/drift").json()["features"]["island"]
    assert client.post("/predict", json={"instances": [unseen] * 2}).status_code == 200
    after = client.get("/drift").json()["features"]["island"]
    assert after["n"] == before["n"] + 2
    assert after["unseen"] > 0
    assert "Atlantis" not in client.get("/metrics").text  # no client value becomes a label


def test_the_lifespan_end_flushes_what_was_counted(
    artifact_dir: Path, record: dict[str, Any]
) -> None:
    # No periodic flush within the test: only the one at shutdown can move the counts.
    settings = Settings(model_dir=artifact_dir, monitoring_flush_seconds=60)
    before = live_totals("1")["year"]
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", json={"instances": [record] * 5}).status_code == 200
        assert client.post("/predict", json={"instances": [record] * 30}).status_code == 200
        # The series exist from the start (at zero in a fresh process); their counts not yet.
        assert sum(live_totals("1")["year"].values()) == sum(before.values())
    after = live_totals("1")["year"]
    assert sum(after.values()) == sum(before.values()) + 35


def test_drift_is_off_without_monitoring(artifact_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=artifact_dir, monitoring=False))) as client:
        drift = client.get("/drift").json()
    assert drift["monitored"] is False
    assert drift["features"] == {}


@pytest.mark.parametrize("records", [1, 40], ids=["record-path", "column-path"])
def test_a_request_is_counted_after_its_response_has_left(
    artifact_dir: Path, record: dict[str, Any], records: int
) -> None:
    """The client waits for neither the drift count nor the labels' tally, and nothing reads
    the counts before they are settled."""
    app = create_app(Settings(model_dir=artifact_dir, monitoring_flush_seconds=60))
    events: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            events.append(message["type"])
            await send(message)

        await app(scope, receive, sending)

    with TestClient(recording) as client:
        state: ServiceState = app.state.service  # type: ignore[attr-defined]
        assert state.codec is not None
        assert state.codec.live is not None
        live = state.codec.live
        settle = state.settle_counts

        def recorded_settle() -> None:
            held = (len(live._pending), len(state.tally._held_labels))
            events.append(f"settle: {held[0]} count, {held[1]} labels held")
            settle()

        state.settle_counts = recorded_settle  # type: ignore[method-assign]
        before = _n(client)
        events.clear()
        assert client.post("/predict", json={"instances": [record] * records}).status_code == 200
        expected = ["http.response.start", "http.response.body", "settle: 1 count, 1 labels held"]
        assert events == expected
        assert _n(client) == before + records  # /drift settles first: nothing held back


def test_held_counts_are_settled_before_they_are_exported(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.reference is not None
    live = LiveCounts(manifest.reference)
    exporter = Exporter(live, manifest)
    records = [dict(row) for row, _ in REFERENCE_ROWS] * 7
    columns = Predictor(manifest, runner=None).columns(records)  # type: ignore[arg-type]
    labels = np.array(["Adelie", "Gentoo", "Chinstrap"] * 7, dtype=object)
    before = sum(live_totals(manifest.version)["island"].values())
    live.count_later(records[:1], columns, labels[:1])
    live.count_later(None, columns, labels)
    exporter.flush()
    assert sum(live_totals(manifest.version)["island"].values()) == before + 1 + len(records)
