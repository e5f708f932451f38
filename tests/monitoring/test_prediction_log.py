"""Prediction ids in /predict, the sampled prediction log, and labels given by prediction id."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from mlvajra.config import Settings
from mlvajra.monitoring.feedback import FeedbackStore
from mlvajra.monitoring.prediction_log import PredictionLog
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS


def _logged(state_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(state_dir / "penguins.feedback.sqlite") as connection:
        return connection.execute(
            "SELECT prediction_id, predicted, version FROM predictions ORDER BY prediction_id"
        ).fetchall()


def test_labels_given_by_prediction_id_score_what_was_predicted(
    artifact_dir: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    settings = Settings(model_dir=artifact_dir, state_dir=state_dir, prediction_log_sample=1.0)
    records = [row for row, _ in REFERENCE_ROWS]
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/predict", json={"instances": records}, headers={"X-Request-Id": "req-7"}
        ).json()
        ids = [prediction["id"] for prediction in answer["predictions"]]
        assert ids == [f"req-7:{row}" for row in range(len(records))]
        predicted = [prediction["label"] for prediction in answer["predictions"]]
        # Posted before the log's batch is flushed: the label is scored once its prediction is in.
        wrong = next(label for label in ("Adelie", "Gentoo") if label != predicted[0])
        feedback = [{"id": ids[0], "label": wrong}, {"id": ids[1], "label": predicted[1]}]
        assert client.post("/feedback", json={"feedback": feedback}).status_code == 201
    expected = [(id_, str(label), "1") for id_, label in zip(ids, predicted, strict=True)]
    assert _logged(state_dir) == expected  # written at shutdown, not lost
    with TestClient(create_app(settings)) as client:
        metric = client.get("/quality").json()["metric"]
    assert metric["labels"] == 2
    assert 0.0 < metric["live"] < 1.0  # one right, one wrong: scored against the logged labels


def test_without_sampling_nothing_is_logged(artifact_dir: Path, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with TestClient(create_app(Settings(model_dir=artifact_dir, state_dir=state_dir))) as client:
        answer = client.post("/predict", json={"instances": [REFERENCE_ROWS[0][0]]}).json()
        assert answer["predictions"][0]["id"].endswith(":0")
        assert client.post("/feedback", json={"feedback": [{"id": "x:0", "label": "Adelie"}]})
    assert _logged(state_dir) == []


def test_the_log_samples_whole_requests_and_bounds_what_is_pending(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "m.feedback.sqlite")
    draws = iter([0.3, 0.7, 0.1, 0.2])
    log = PredictionLog(store, "3", sample=0.5, max_pending=3, draw=lambda: next(draws))
    log.offer(["a:0", "a:1"], [{"x": 1}, {"x": 2}], np.array([1.5, 2.5]))  # 0.3: sampled
    log.offer(["b:0"], [{"x": 3}], np.array([3.5]))  # 0.7: not sampled
    log.offer(["c:0", "c:1"], [{"x": 4}, {"x": 5}], np.array([4.5, 5.5]))  # 4 > 3: dropped
    log.offer(["d:0"], [{"x": 6}], np.array([6.5]))
    assert log.flush() == 3
    assert log.flush() == 0
    with sqlite3.connect(store.path) as connection:
        rows = connection.execute(
            "SELECT prediction_id, record, predicted, version FROM predictions ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("a:0", '{"x": 1}', "1.5", "3"),
        ("a:1", '{"x": 2}', "2.5", "3"),
        ("d:0", '{"x": 6}', "6.5", "3"),
    ]


def _pairs(version: str, label: str, predicted: str) -> float:
    labels = {"version": version, "label": label, "predicted": predicted}
    return REGISTRY.get_sample_value("mlvajra_feedback_pairs_total", labels) or 0.0


def test_committed_labels_count_into_the_live_metric_counters(
    artifact_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(model_dir=artifact_dir, state_dir=tmp_path, prediction_log_sample=1.0)
    (row, truth), *_ = REFERENCE_ROWS
    wrong = "Gentoo" if truth != "Gentoo" else "Adelie"
    with TestClient(create_app(settings)) as client:
        answer = client.post("/predict", json={"instances": [row]}).json()["predictions"][0]
    assert answer["label"] == truth
    before = {pair: _pairs("1", *pair) for pair in [(truth, truth), (wrong, truth)]}
    with TestClient(create_app(settings)) as client:  # the prediction is in the log by now
        feedback = [{"instance": row, "label": truth}, {"id": answer["id"], "label": wrong}]
        assert client.post("/feedback", json={"feedback": feedback}).status_code == 201
        assert client.post("/feedback", json={"feedback": feedback}).json()["repeated"] == 2
    assert _pairs("1", truth, truth) - before[(truth, truth)] == 1
    assert _pairs("1", wrong, truth) - before[(wrong, truth)] == 1  # by id, from the log


def test_records_are_logged_as_validation_gives_them_however_accepted(
    artifact_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(model_dir=artifact_dir, state_dir=tmp_path, prediction_log_sample=1.0)
    # A number sent as an int, an integer sent as an integral float.
    row = {**REFERENCE_ROWS[0][0], "flipper_length_mm": 181, "year": 2007.0}
    with TestClient(create_app(settings)) as client:
        for count in (1, 200):  # judged by pydantic; taken whole by `mlvajra.columnar`
            assert client.post("/predict", json={"instances": [row] * count}).status_code == 200
    with sqlite3.connect(tmp_path / "penguins.feedback.sqlite") as connection:
        written = connection.execute(
            "SELECT record, count(*) FROM predictions GROUP BY 1"
        ).fetchall()
    numbers = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    validated = {**row, **{name: float(row[name]) for name in numbers}, "year": 2007}
    assert written == [(json.dumps(validated, sort_keys=True), 201)]
