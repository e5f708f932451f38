"""`mlvajra predict`: the service's answers for valid rows, every other row in the rejects file."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from mlvajra.batch.scoring import score
from mlvajra.cli import cli
from mlvajra.data.files import CsvKind
from mlvajra.data.kinds import DataKind, open_location, read_table
from mlvajra.errors import DataError
from mlvajra.folder import read_manifest
from mlvajra.predictor import Predictor
from mlvajra.runners import load_runner
from mlvajra.serving.codec import PredictCodec
from mlvajra.training.datasets import penguins_csv, read_dataset
from tests.fixtures import REFERENCE_ROWS

runner = CliRunner()
COLUMNS = [name for name in REFERENCE_ROWS[0][0]]
VALID = [row for row, _ in REFERENCE_ROWS]
NO_ISLAND = VALID[0] | {"island": None}


@pytest.fixture(scope="module")
def predictor(artifact_dir: Path) -> Predictor:
    """The predictor the service builds for the test artifact."""
    manifest = read_manifest(artifact_dir)
    return Predictor(manifest, load_runner(artifact_dir, manifest, "onnx"))


def _api_predictions(predictor: Predictor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body, _ = PredictCodec(predictor, 100).predict(orjson.dumps({"instances": rows}), "batch")
    predictions: list[dict[str, Any]] = orjson.loads(body)["predictions"]
    return predictions


def _write_input(kind: str, folder: Path) -> tuple[str, list[tuple[int, str, str]]]:
    """Rows 0, 2, 4 valid; the others bad in ways each kind can hold; and the expected rejects."""
    rows = [VALID[0], NO_ISLAND, VALID[1], VALID[0] | {"bill_length_mm": None}, VALID[2]]
    expected = [(1, "island", "must be a string")]
    ids = list(range(100, 100 + len(rows)))
    if kind == "csv":
        path = folder / "in.csv"
        lines = ["id," + ",".join(COLUMNS)]
        for row_id, row in zip(ids, rows, strict=True):
            lines.append(
                f"{row_id}," + ",".join("" if row[c] is None else str(row[c]) for c in COLUMNS)
            )
        # A number that is text is rejected, never read as NaN; so is "NA".
        lines[4] = lines[4].replace(",,", ",abc,", 1)
        lines.append(lines[1].replace("100,", "105,", 1).replace(",2007", ",NA"))
        path.write_text("\n".join(lines) + "\n")
        expected += [(3, "bill_length_mm", "must be a number"), (5, "year", "must be an integer")]
        return str(path), expected
    table = pa.Table.from_pylist([{"id": i} | row for i, row in zip(ids, rows, strict=True)])
    if kind == "sqlite":
        database = folder / "in.db"
        with sqlite3.connect(database) as connection:
            connection.execute(f"CREATE TABLE penguins ({', '.join(['id', *COLUMNS])})")
            values = [list(row.values()) for row in table.to_pylist()]
            values[3][COLUMNS.index("bill_length_mm") + 1] = "abc"
            values.append(list(table.to_pylist()[0].values()))
            values[5][0], values[5][-1] = 105, 2007.5
            connection.executemany("INSERT INTO penguins VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
        connection.close()
        expected += [(3, "bill_length_mm", "must be a number"), (5, "year", "must be an integer")]
        return f"sqlite:///{database}?table=penguins", expected
    location = str(folder / f"in.{kind}")
    with open_location(location).writer(table.schema) as sink:
        sink.write(table)
    # A null is fine where the field is nullable: row 3 is valid here.
    return location, expected


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl", "sqlite"])
def test_valid_rows_get_the_api_answer_and_nothing_is_lost(
    kind: str, artifact_dir: Path, predictor: Predictor, tmp_path: Path
) -> None:
    source, expected_rejects = _write_input(kind, tmp_path)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model-dir", str(artifact_dir), source, str(output), "--keep", "id"]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    rejected_rows = len({row for row, _, _ in expected_rejects})
    input_rows = read_table(source).num_rows
    assert summary["input_rows"] == input_rows
    assert summary["rejected_rows"] == rejected_rows
    assert summary["output_rows"] == input_rows - rejected_rows

    with (tmp_path / "out.rejects.csv").open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    rejects = [(int(r["row"]), r["field"], r["reason"]) for r in lines]
    assert rejects == expected_rejects
    # Each reject names its row by the --keep columns too, not only by position.
    assert list(lines[0]) == ["id", "row", "field", "reason"]
    assert [int(r["id"]) for r in lines] == [100 + row for row, _, _ in rejects]

    scored = read_table(output).to_pylist()
    valid_ids = [int(row["id"]) for row in scored]
    assert valid_ids == [100 + i for i in range(input_rows) if i not in {r for r, _, _ in rejects}]
    originals = {
        100: VALID[0],
        102: VALID[1],
        103: VALID[0] | {"bill_length_mm": None},
        104: VALID[2],
    }
    api = _api_predictions(predictor, [originals[row_id] for row_id in valid_ids])
    for row, answer in zip(scored, api, strict=True):
        assert row["label"] == answer["label"]
        for label, probability in answer["probabilities"].items():
            assert row[f"probability_{label}"] == pytest.approx(probability, abs=1e-6)


def test_penguins_csv_scores_as_the_api_scores_its_nulls(
    artifact_dir: Path, predictor: Predictor, tmp_path: Path
) -> None:
    """The training CSV's "NA" cells are missing for `predict` as they were for training."""
    source = penguins_csv()
    output = tmp_path / "scored.parquet"
    result = runner.invoke(
        cli, ["predict", "--model-dir", str(artifact_dir), str(source), str(output)]
    )
    assert result.exit_code == 0, result.output
    frame = read_dataset(source).frame
    inputs = [spec.name for spec in predictor.manifest.inputs]
    records = [
        {name: None if value != value else value for name, value in row.items()}  # NaN -> null
        for row in frame[inputs].astype(object).to_dict("records")
    ]
    with_nulls = [i for i, record in enumerate(records) if None in record.values()]
    assert len(with_nulls) >= 10, "the penguins CSV has NA in text and number columns"
    scored = read_table(output).to_pylist()
    assert len(scored) == len(records), "no row rejected"
    api = _api_predictions(predictor, [records[i] for i in with_nulls])
    for index, answer in zip(with_nulls, api, strict=True):
        assert scored[index]["label"] == answer["label"]
        for label, probability in answer["probabilities"].items():
            assert scored[index][f"probability_{label}"] == pytest.approx(probability, abs=1e-6)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "sqlite"])
def test_every_output_kind(suffix: str, artifact_dir: Path, tmp_path: Path) -> None:
    source, _ = _write_input("parquet", tmp_path)
    output = (
        f"sqlite:///{tmp_path}/out.db?table=scores"
        if suffix == "sqlite"
        else str(tmp_path / f"out.{suffix}")
    )
    rejects = tmp_path / "bad.csv"
    args = ["predict", "--model-dir", str(artifact_dir), source, output, "--rejects", str(rejects)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "5 rows in = 4 scored + 1 rejected" in result.output
    table = read_table(output)
    assert table.column_names == [
        "label",
        "probability_Adelie",
        "probability_Chinstrap",
        "probability_Gentoo",
    ]
    assert table.column("label").to_pylist() == ["Adelie", "Gentoo", "Adelie", "Chinstrap"]
    with rejects.open(newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["row", "field", "reason"],
            ["1", "island", "must be a string"],
        ]


def test_a_missing_column_fails_before_writing_anything(artifact_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("island,year\nDream,2007\n")
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(tmp_path / "out.csv")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "the input has no column 'bill_length_mm'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


class _InterruptedCsv(CsvKind):
    """A CSV whose reading is interrupted (as by Ctrl-C) after the first batch."""

    def batches(
        self, columns: list[str] | None = None, text_columns: Any = ()
    ) -> Iterator[pa.RecordBatch]:
        yield next(iter(super().batches(columns, text_columns)))
        raise KeyboardInterrupt


def test_an_interrupted_run_leaves_no_half_file(predictor: Predictor, tmp_path: Path) -> None:
    source, _ = _write_input("csv", tmp_path)
    output = tmp_path / "out.parquet"
    output.write_bytes(b"yesterday's predictions")
    with pytest.raises(KeyboardInterrupt):
        score(
            predictor,
            _InterruptedCsv(source),
            open_location(output),
            open_location(tmp_path / "out.rejects.csv"),
            keep=["id"],
        )
    assert output.read_bytes() == b"yesterday's predictions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.parquet"]


def test_an_empty_input_gives_an_empty_output(predictor: Predictor, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(",".join(["id", *COLUMNS]) + "\n")
    kinds: list[DataKind] = [open_location(source), open_location(tmp_path / "o.parquet")]
    summary = score(predictor, *kinds, open_location(tmp_path / "r.csv"), keep=["id"])
    assert (summary.input_rows, summary.output_rows, summary.rejected_rows) == (0, 0, 0)
    assert read_table(tmp_path / "o.parquet").column_names[:2] == ["id", "label"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.csv", b"", "Empty CSV file"),
        ("in.parquet", b"not parquet", "in.parquet:"),
        ("in.db", None, "no such data file"),
    ],
)
def test_unreadable_inputs_are_one_line_and_create_nothing(
    name: str, content: bytes | None, message: str, artifact_dir: Path, tmp_path: Path
) -> None:
    source = str(tmp_path / name)
    if content is not None:
        (tmp_path / name).write_bytes(content)
    if name.endswith(".db"):
        source = f"sqlite:///{source}?table=penguins"
    args = ["predict", "--model-dir", str(artifact_dir), source, str(tmp_path / "out.parquet")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ([name] if content is not None else [])


def test_kept_csv_columns_are_copied_as_text(artifact_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    cells = ",".join(str(VALID[0][c]) for c in COLUMNS)
    source.write_text(f"id,{','.join(COLUMNS)}\n01234,{cells}\nA-7,{cells}\n")
    output = tmp_path / "out.parquet"
    args = ["predict", "--model-dir", str(artifact_dir), str(source), str(output), "--keep", "id"]
    assert runner.invoke(cli, args).exit_code == 0
    assert read_table(output).column("id").to_pylist() == ["01234", "A-7"]


class _TwoBatches(DataKind):
    """Two batches of the same rows whose `id` column has the given types."""

    name = "two batches"

    def __init__(self, location: str, first: pa.DataType, second: pa.DataType) -> None:
        super().__init__(location)
        self._types = (first, second)

    def column_names(self) -> list[str]:
        return ["id", *COLUMNS]

    def batches(
        self, columns: list[str] | None = None, text_columns: Any = ()
    ) -> Iterator[pa.RecordBatch]:
        for kind in self._types:
            ids = (
                pa.array(["1", "2"]).cast(kind)
                if pa.types.is_integer(kind)
                else pa.array(["1", "b"])
            )
            rows = pa.Table.from_pylist([VALID[0], VALID[1]])
            yield (
                rows.add_column(0, "id", ids).select(columns or self.column_names()).to_batches()[0]
            )


def test_a_column_type_change_is_conformed_or_one_clear_error(
    predictor: Predictor, tmp_path: Path
) -> None:
    rejects = open_location(tmp_path / "r.csv")
    widened = _TwoBatches("two", pa.int32(), pa.int64())
    score(predictor, widened, open_location(tmp_path / "a.parquet"), rejects, keep=["id"])
    assert read_table(tmp_path / "a.parquet").column("id").to_pylist() == [1, 2, 1, 2]
    changed = _TwoBatches("two", pa.int64(), pa.string())
    with pytest.raises(DataError, match="column id changed type within the input"):
        score(predictor, changed, open_location(tmp_path / "b.parquet"), rejects, keep=["id"])
    assert not (tmp_path / "b.parquet").exists()
