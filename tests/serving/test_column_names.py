"""A pipeline whose columns are named as no Python attribute can be is trained and served.

`sepal length (cm)` (scikit-learn's own iris names), `class`, `a-b`: /predict, short and long
bodies, and V2 JSON answer for them, and a wrong value is named by its column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from mlvajra.config import Settings
from mlvajra.serving.factory import create_app
from mlvajra.training.trainer import TrainOptions, train

COLUMNS = ("sepal length (cm)", "class", "a-b")


def test_inputs_named_with_spaces_keywords_and_dashes_are_served(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    length = rng.normal(5.8, 0.8, size=150)
    frame = pd.DataFrame(
        {
            COLUMNS[0]: length,
            COLUMNS[1]: rng.choice(["x", "y"], size=150),
            COLUMNS[2]: rng.integers(0, 10, size=150),
            "label": np.where(length > 5.8, "long", "short"),
        }
    )
    data = tmp_path / "odd.csv"
    frame.to_csv(data, index=False)
    folder = train(TrainOptions(data=data, target="label", models_root=tmp_path / "models")).folder
    record = {COLUMNS[0]: 6.5, COLUMNS[1]: "x", COLUMNS[2]: 3}
    with TestClient(create_app(Settings(model_dir=folder))) as client:
        for count in (1, 80):  # per-record validation, and a long body read whole
            answer = client.post("/predict", json={"instances": [record] * count})
            assert answer.status_code == 200, answer.text
            assert [p["label"] for p in answer.json()["predictions"]] == ["long"] * count
        bad = client.post("/predict", json={"instances": [{**record, COLUMNS[0]: "6.5"}] * 80})
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["details"]} == {COLUMNS[0]}
        manifest = client.get("/v2/models/" + folder.parent.name).json()
        tensors = [
            {
                "name": i["name"],
                "shape": [1, 1],
                "datatype": i["datatype"],
                "data": [record[i["name"]]],
            }
            for i in manifest["inputs"]
        ]
        inferred = client.post(f"/v2/models/{folder.parent.name}/infer", json={"inputs": tensors})
        assert inferred.status_code == 200, inferred.text
        assert inferred.json()["outputs"][0]["data"] == ["long"]
