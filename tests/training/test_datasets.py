"""Training reads every data kind through mlvajra.data.kinds, with the same types as from CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlvajra.artifact import MANIFEST_NAME, InputSpec
from mlvajra.cli import cli
from mlvajra.data.kinds import open_location, read_table
from mlvajra.folder import sha256_file
from mlvajra.training.datasets import BUILTIN_SOURCE, penguins_csv, read_dataset
from mlvajra.training.schema import cast_columns, infer_inputs

TEMPLATES = ["p.parquet", "p.jsonl", "sqlite:///{folder}/p.db?table=penguins"]


@pytest.fixture(scope="module")
def penguins_copies(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The built-in penguins written once per kind."""
    folder = tmp_path_factory.mktemp("penguins")
    table = read_table(penguins_csv())
    locations = []
    for template in TEMPLATES:
        location = template.format(folder=folder) if "{" in template else str(folder / template)
        with open_location(location).writer(table.schema) as sink:
            sink.write(table)
        locations.append(location)
    return locations


def test_the_builtin_data_keeps_its_source_and_hash() -> None:
    dataset = read_dataset(None)
    assert dataset.source == BUILTIN_SOURCE
    assert dataset.sha256 == sha256_file(penguins_csv())
    assert len(dataset.frame) == 344


def test_every_kind_gives_the_inputs_the_csv_gives(penguins_copies: list[str]) -> None:
    def inputs(location: str | None) -> list[InputSpec]:
        features = cast_columns(read_dataset(location).frame.drop(columns="species"))
        return infer_inputs(features, record_dtype=False)

    expected = inputs(None)
    for location in penguins_copies:
        assert inputs(location) == expected, location


def test_train_from_a_sqlite_table(penguins_copies: list[str], tmp_path: Path) -> None:
    location = penguins_copies[-1]
    args = ["train", "--data", location, "--target", "species", "--models-root", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "penguins" / "1" / MANIFEST_NAME).read_text())
    assert manifest["training"]["data_source"] == location
    assert manifest["training"]["rows"] == 344
