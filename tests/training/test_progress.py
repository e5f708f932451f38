"""Training says what it is doing, samples its parity rows and records a real input example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlvajra.artifact import InputSpec
from mlvajra.folder import read_manifest
from mlvajra.inputs import MISSING_CATEGORY
from mlvajra.training.examples import PARITY_ROWS, input_example, parity_rows
from mlvajra.training.pipeline import ROWS_PER_TREE, build_pipeline
from mlvajra.training.trainer import TrainOptions, train

SPECS = [
    InputSpec(name="x", type="number", nullable=True),
    InputSpec(name="n", type="integer", nullable=False),
    InputSpec(name="s", type="string", nullable=True, categories=["a", "b"]),
    InputSpec(name="b", type="boolean", nullable=False),
]


def test_each_stage_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": ["p", "q"] * 30})
    frame.loc[frame["y"] == "q", "x"] += 3
    frame.to_csv(tmp_path / "d.csv", index=False)
    train(TrainOptions(data=tmp_path / "d.csv", target="y", models_root=tmp_path / "models"))
    lines = capsys.readouterr().err.splitlines()
    stages = [line.split("] ", 1)[1] for line in lines if line.startswith("mlvajra train [")]
    assert stages[0] == f"reading {tmp_path / 'd.csv'}"
    assert stages[1] == "60 rows, 1 inputs; 5-fold cross-validation"
    assert [stage.split(":")[0] for stage in stages[2:7]] == [
        f"cross-validation fold {fold}/5" for fold in range(1, 6)
    ]
    assert stages[7:] == [
        "fit on 48 rows",
        "export (joblib, ONNX) and ONNX parity",
        "serves onnx: ONNX parity holds",
    ]


def test_big_tables_bound_rows_per_tree_and_parity_rows() -> None:
    forest = build_pipeline(SPECS, "classification", 0, rows=10 * ROWS_PER_TREE).steps[-1][1]
    assert forest.max_samples == pytest.approx(0.1)
    assert (
        build_pipeline(SPECS, "classification", 0, rows=ROWS_PER_TREE).steps[-1][1].max_samples
        is None
    )
    features = pd.DataFrame({"x": np.arange(PARITY_ROWS + 5, dtype=np.float64)})
    sample = parity_rows(features, seed=1)
    assert len(sample) == PARITY_ROWS
    assert sample.index.equals(parity_rows(features, seed=1).index)
    assert parity_rows(features.head(50), seed=1).equals(features.head(50))


def test_the_example_is_the_first_complete_held_out_row() -> None:
    features = pd.DataFrame(
        {
            "x": [np.nan, 1.5, 2.5, 3.5],
            "n": [1.0, 2.0, 3.0, 4.0],
            "s": ["a", MISSING_CATEGORY, "b", "a"],
            "b": [1.0, 0.0, 1.0, 0.0],
        },
        index=[10, 11, 12, 13],
    )
    example = input_example(features, SPECS, pd.Index([10, 11, 13, 12]))
    assert example == {"x": 3.5, "n": 4, "s": "a", "b": False}
    assert [type(value) for value in example.values()] == [float, int, str, bool]
    assert input_example(features, SPECS, pd.Index([10, 11])) is None


def test_the_default_artifact_has_a_held_out_example(artifact_dir: Path) -> None:
    manifest = read_manifest(artifact_dir)
    assert manifest.input_example is not None
    assert list(manifest.input_example) == [spec.name for spec in manifest.inputs]
