"""POST /feedback: durable, idempotent labels, bad feedback refused whole; the live metric."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from tests.fixtures import REFERENCE_ROWS


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def labelled(artifact_dir: Path, state_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=artifact_dir, state_dir=state_dir)
    with TestClient(create_app(settings)) as client:
        yield client


def _rows(state_dir: Path) -> list[tuple[Any, ...]]:
    path = state_dir / "penguins.feedback.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT label, predicted, prediction_id FROM labels").fetchall()


def test_labels_are_stored_once_and_score_the_live_metric(
    labelled: TestClient, state_dir: Path
) -> None:
    assert labelled.get("/quality").json()["metric"] == {
        "name": "f1_macro", "heldout": 1.0, "live": None, "labels": 0
    }  # fmt: skip
    body = {"feedback": [{"instance": row, "label": label} for row, label in REFERENCE_ROWS]}
    body["feedback"].append({"id": "req-1/0", "label": "Adelie", "source": "expert"})
    first = labelled.post("/feedback", json=body)
    assert first.status_code == 201
    assert first.json() == {"stored": 4, "repeated": 0}
    again = labelled.post("/feedback", json=body)
    assert again.status_code == 201
    assert again.json() == {"stored": 0, "repeated": 4}
    rows = _rows(state_dir)
    assert len(rows) == 4
    assert ("Adelie", None, "req-1/0") in rows  # an id without a logged prediction is kept
    quality = labelled.get("/quality").json()["metric"]
    assert quality["labels"] == 3  # the three records, predicted now by this version
    assert quality["live"] == 1.0


def test_a_wrong_label_scores_below_held_out(labelled: TestClient) -> None:
    row, _ = REFERENCE_ROWS[0]  # an Adelie, labelled Gentoo by a (wrong) annotator
    body = {"feedback": [{"instance": row, "label": "Gentoo"}]}
    assert labelled.post("/feedback", json=body).status_code == 201
    quality = labelled.get("/quality").json()["metric"]
    assert quality["labels"] == 1
    assert quality["live"] == 0.0


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"instance": REFERENCE_ROWS[0][0], "label": "Emperor"}, "label"),
        ({"instance": REFERENCE_ROWS[0][0], "label": 3}, "label"),
        ({"label": "Adelie"}, "id"),
        ({"instance": {**REFERENCE_ROWS[0][0], "year": "2007"}, "label": "Adelie"}, "year"),
        ({"id": "x", "label": "Adelie", "note": "hi"}, "note"),
    ],
)
def test_bad_feedback_is_refused_whole(
    labelled: TestClient, state_dir: Path, item: dict[str, Any], field: str
) -> None:
    good = {"instance": REFERENCE_ROWS[1][0], "label": "Gentoo"}
    answer = labelled.post("/feedback", json={"feedback": [good, item]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_instances"
    assert {"row": 1, "field": field} == {k: error["details"][0][k] for k in ("row", "field")}
    assert _rows(state_dir) == []  # not even the good item


def test_oversized_and_malformed_feedback(labelled: TestClient, state_dir: Path) -> None:
    items = [{"id": str(i), "label": "Adelie"} for i in range(1001)]
    assert labelled.post("/feedback", json={"feedback": items}).status_code == 413
    assert labelled.post("/feedback", content=b"{nope").status_code == 400
    assert _rows(state_dir) == []


def test_an_unwritable_state_dir_is_a_503_and_predict_still_works(
    artifact_dir: Path, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    settings = Settings(model_dir=artifact_dir, state_dir=blocked / "state")
    body = {"feedback": [{"instance": REFERENCE_ROWS[0][0], "label": "Adelie"}]}
    with TestClient(create_app(settings)) as client:
        failures = _failures(client)
        answer = client.post("/feedback", json=body)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "store_unavailable"
        predict = client.post("/predict", json={"instances": [REFERENCE_ROWS[0][0]]})
        assert predict.status_code == 200
        assert _failures(client) == failures + 1


def _failures(client: TestClient) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("mlvajra_feedback_failures_total "):
            return float(line.split()[1])
    return 0.0
