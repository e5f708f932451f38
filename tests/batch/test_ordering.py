"""Rows scored sorted by one number come back as if scored in their own order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlvajra.artifact import InputSpec
from mlvajra.batch.ordering import run_sorted, sort_column
from mlvajra.batch.validation import validate_batch
from mlvajra.data.files import CsvKind
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import Columns, load_runner
from mlvajra.training.datasets import penguins_csv


@pytest.fixture(scope="module")
def predictor(artifact_dir: Path) -> Predictor:
    manifest = read_manifest(artifact_dir)
    return Predictor(manifest, load_runner(artifact_dir, manifest, "onnx"))


@pytest.fixture(scope="module")
def columns(predictor: Predictor) -> Columns:
    """Every penguin (missing values included) as `mlvajra predict` validates a CSV batch."""
    names = [spec.name for spec in predictor.manifest.inputs]
    batch = next(CsvKind(str(penguins_csv())).batches(names, names))
    result = validate_batch(predictor.manifest.inputs, batch, True)
    assert result.valid_rows == batch.num_rows
    return result.columns


def test_sorted_scoring_gives_each_row_its_own_prediction(
    predictor: Predictor, columns: Columns
) -> None:
    key = sort_column(predictor.manifest.inputs, columns)
    assert key is not None
    values = columns[key].reshape(-1)
    assert not np.all(values[:-1] <= values[1:]), "the file must not be in the sort's order"
    expected = predictor.run_columns(columns)
    got = run_sorted(predictor, columns)
    assert got.labels.tolist() == expected.labels.tolist()
    assert got.probabilities is not None
    assert expected.probabilities is not None
    np.testing.assert_array_equal(got.probabilities, expected.probabilities)
    assert len(set(expected.labels.tolist())) == 3


def number(name: str) -> InputSpec:
    return InputSpec(name=name, type="number", nullable=True)


def test_the_sort_column_is_the_numeric_input_with_most_distinct_values() -> None:
    inputs = [
        InputSpec(name="text", type="string", nullable=True),
        number("few"),
        number("many"),
        number("as_many"),
    ]
    columns = {
        "text": np.array([f"t{row}" for row in range(8)], dtype=object).reshape(-1, 1),
        "few": np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]).reshape(-1, 1),
        "many": np.array([8.0, 7, 6, 5, 4, 3, 2, np.nan]).reshape(-1, 1),
        "as_many": np.array([1.0, 2, 3, 4, 5, 6, 7, 8]).reshape(-1, 1),
    }
    assert sort_column(inputs, columns) == "many"  # text is never a key; a tie: the first
    assert sort_column(inputs[:1], columns) is None
