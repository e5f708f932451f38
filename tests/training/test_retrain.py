"""Retraining on collected labels, kept only when it scores no worse than the served model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import mlvajra
from mlvajra.cli import cli
from mlvajra.folder import read_manifest
from mlvajra.monitoring.feedback import FeedbackStore, Label
from mlvajra.training.retrain import CandidateWorseError


def _rows(low: float, high: float, count: int, label: str | None, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(low, high, count), 3)
    labels = np.where(x < 0.5, "a", "b") if label is None else np.full(count, label)
    return pd.DataFrame({"x": x, "z": np.round(rng.normal(size=count), 3), "kind": labels})


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, Path]:
    """Version 1 trained on x in [0, 1] (b above 0.5); the store says x in [2, 3] is a."""
    models = tmp_path / "models"
    data = _rows(0, 1, 80, None, seed=1)
    mlvajra.train(DecisionTreeClassifier(random_state=0), data, target="kind", name="shapes",
                  models_root=models)  # fmt: skip
    state = tmp_path / "state"
    new = _rows(2, 3, 60, "a", seed=2)
    store = FeedbackStore(state / "shapes.feedback.sqlite")
    records = new.drop(columns="kind").to_dict("records")
    store.add([Label(label="a", version="1", record=record) for record in records])
    data.to_csv(tmp_path / "shapes.csv", index=False)
    return models, state


def test_labels_that_improve_the_model_give_version_2(served: tuple[Path, Path]) -> None:
    models, state = served
    packaged = mlvajra.train(
        DecisionTreeClassifier(random_state=0), models.parent / "shapes.csv", target="kind",
        models_root=models, feedback=state, compare_with=models / "shapes" / "1",
    )  # fmt: skip
    assert packaged.folder == models / "shapes" / "2"
    assert read_manifest(packaged.folder).training.rows == 140  # 80 training rows + 60 labels
    assert len(FeedbackStore(state / "shapes.feedback.sqlite").labelled()) == 60  # kept


def test_a_worse_candidate_is_refused_and_nothing_is_written(
    served: tuple[Path, Path],
) -> None:
    models, state = served
    with pytest.raises(CandidateWorseError, match=r"worse than .*shapes/1's"):
        mlvajra.train(
            DummyClassifier(strategy="most_frequent"), models.parent / "shapes.csv",
            target="kind", models_root=models, feedback=state,
            compare_with=models / "shapes" / "1", allow_worse_than_baseline=True,
        )  # fmt: skip
    assert sorted(path.name for path in (models / "shapes").iterdir()) == ["1"]


def test_the_cli_refuses_in_one_line(served: tuple[Path, Path], tmp_path: Path) -> None:
    models, state = served
    (tmp_path / "constant.py").write_text(
        "from sklearn.dummy import DummyClassifier\n\n\n"
        "def make():\n    return DummyClassifier(strategy='constant', constant='b')\n"
    )
    result = CliRunner().invoke(cli, [
        "train", "--pipeline", f"{tmp_path / 'constant.py'}:make",
        "--data", str(tmp_path / "shapes.csv"), "--target", "kind", "--name", "shapes",
        "--models-root", str(models), "--feedback", str(state),
        "--compare-with", str(models / "shapes" / "1"), "--allow-worse-than-baseline",
    ])  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: not written: the candidate's f1_macro"), result.output
    assert not (models / "shapes" / "2").exists()
