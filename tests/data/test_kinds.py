"""Every data kind reads what it writes, in batches, and writes atomically."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlvajra.data.files import CSV_NULLS
from mlvajra.data.kinds import DataKind, open_location, read_table, register
from mlvajra.data.sqlite import arrow_column
from mlvajra.errors import DataError

TABLE = pa.table(
    {
        "id": pa.array([1, 2, 3], type=pa.int64()),
        "name": pa.array(["a", None, "c, with comma"]),
        "score": pa.array([0.5, 1.25, None]),
        "flag": pa.array([True, False, True]),
    }
)
LOCATIONS = ["t.csv", "t.parquet", "t.jsonl", "sqlite:///{folder}/t.db?table=rows"]


def _location(template: str, folder: Path) -> str:
    return template.format(folder=folder) if "{folder}" in template else str(folder / template)


@pytest.mark.parametrize("template", LOCATIONS)
def test_each_kind_reads_back_what_it_wrote(template: str, tmp_path: Path) -> None:
    kind = open_location(_location(template, tmp_path))
    with kind.writer(TABLE.schema) as sink:
        sink.write(TABLE.slice(0, 2))
        sink.write(TABLE.slice(2))
    assert kind.column_names() == TABLE.column_names
    back = read_table(kind.location)
    assert back.column("id").to_pylist() == [1, 2, 3]
    assert back.column("name").to_pylist() == ["a", None, "c, with comma"]
    assert back.column("score").to_pylist() == [0.5, 1.25, None]
    # SQLite has no boolean type: flags come back as 0/1 integers.
    assert [bool(flag) for flag in back.column("flag").to_pylist()] == [True, False, True]


@pytest.mark.parametrize("template", LOCATIONS)
def test_reading_selected_columns(template: str, tmp_path: Path) -> None:
    kind = open_location(_location(template, tmp_path))
    with kind.writer(TABLE.schema) as sink:
        sink.write(TABLE)
    batches = list(kind.batches(["score", "id"]))
    assert sum(batch.num_rows for batch in batches) == 3
    assert batches[0].schema.names == ["score", "id"]


def test_csv_text_columns_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1.5,NA\nabc,\n007,none\n")
    (batch,) = open_location(path).batches(["a", "b"], text_columns=["a", "b"])
    # Nothing inferred, nothing coerced: text stays text, and only the CSV nulls are null.
    assert batch.column("a").to_pylist() == ["1.5", "abc", "007"]
    assert batch.column("b").to_pylist() == [None, None, "none"]


def test_training_and_scoring_read_the_same_missing_cells(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,s\n" + "".join(f"{null},{null}\n" for null in CSV_NULLS) + "1,a\n")
    typed = read_table(path)  # what training reads
    (text,) = open_location(path).batches(["x", "s"], text_columns=["x", "s"])  # what predict reads
    for table in (typed, text):
        assert table.column("x").null_count == len(CSV_NULLS)
        assert table.column("s").null_count == len(CSV_NULLS)


def test_sqlite_query_and_mixed_types(tmp_path: Path) -> None:
    database = tmp_path / "d.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x, y)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), ("two", "b"), (3.5, None)])
    connection.close()
    query = "SELECT x FROM t WHERE y IS NOT NULL"
    kind = open_location(f"sqlite:///{database}?query={query}")
    (batch,) = kind.batches()
    assert batch.column("x").to_pylist() == [1, "two"]
    assert pa.types.is_union(batch.column("x").type)
    assert kind.row_count() == 2


def test_arrow_column_keeps_each_value_type() -> None:
    assert arrow_column([1, None, 2]).type == pa.int64()
    assert arrow_column([None, None]).type == pa.null()
    mixed = arrow_column([1, 2.0, "3", True, None])
    assert mixed.to_pylist() == [1, 2.0, "3", True, None]
    assert [type(value) for value in mixed.to_pylist()[:4]] == [int, float, str, bool]


def _write_then_fail(kind: DataKind, error: BaseException) -> None:
    with kind.writer(TABLE.schema) as sink:
        sink.write(TABLE.slice(0, 1))
        raise error


@pytest.mark.parametrize("template", LOCATIONS)
def test_an_interrupted_write_leaves_the_old_data_and_no_temp_file(
    template: str, tmp_path: Path
) -> None:
    kind = open_location(_location(template, tmp_path))
    with kind.writer(TABLE.schema) as sink:
        sink.write(TABLE)
    with pytest.raises(KeyboardInterrupt):
        _write_then_fail(kind, KeyboardInterrupt())
    assert read_table(kind.location).num_rows == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(kind.path).name]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    kind = open_location(tmp_path / "new.parquet")
    with pytest.raises(RuntimeError):
        _write_then_fail(kind, RuntimeError("disk on fire"))
    assert list(tmp_path.iterdir()) == []


def test_unknown_locations_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unsupported data location .*\.xlsx"):
        open_location(tmp_path / "t.xlsx")
    with pytest.raises(DataError, match="exactly one of"):
        open_location("sqlite:///t.db")
    with pytest.raises(DataError, match="no such data file"):
        open_location(tmp_path / "missing.csv").column_names()


def test_a_new_kind_is_one_class(tmp_path: Path) -> None:
    """The README's example, verbatim in substance: register it and both directions work."""
    import pyarrow.ipc

    @register
    class FeatherKind(DataKind):
        name = "Feather"
        suffixes = (".feather", ".arrow")

        def column_names(self) -> list[str]:
            return list(pyarrow.ipc.open_file(self.path).schema.names)

        def batches(self, columns: Any = None, text_columns: Any = ()) -> Iterator[pa.RecordBatch]:
            reader = pyarrow.ipc.open_file(self.path)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield batch.select(columns) if columns else batch

        def open_writer(self, path: Path, schema: pa.Schema) -> Any:
            return pyarrow.ipc.new_file(path, schema)

    kind = open_location(tmp_path / "t.feather")
    assert isinstance(kind, FeatherKind)
    with kind.writer(TABLE.schema) as sink:
        sink.write(TABLE)
    assert read_table(kind.location).equals(TABLE)


@pytest.mark.parametrize(
    ("name", "content", "header_readable"),
    [
        ("empty.csv", b"", False),
        ("ragged.csv", b"a,b\n1,2,3\n", True),
        ("fake.parquet", b"not a parquet file at all", False),
    ],
)
def test_an_unreadable_file_is_one_line_naming_it(
    tmp_path: Path, name: str, content: bytes, header_readable: bool
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    kind = open_location(path)
    with pytest.raises(DataError) as reading:
        list(kind.batches())
    failures = [reading.value]
    if not header_readable:
        with pytest.raises(DataError) as naming:
            kind.column_names()
        failures.append(naming.value)
    for failure in failures:
        assert str(failure).startswith(f"{path}: ")
        assert "\n" not in str(failure)


def test_json_lines_arrow_refuses_are_rows_in_batches_and_fail_training_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b'{"a": 1}\n{not json\n{"a": 2, "a": 3}\n')
    (batch,) = open_location(path).batches()
    assert batch.column("__mlvajra_row_problem__").to_pylist() == [
        None,
        {"field": None, "kind": "not a JSON object"},
        {"field": "a", "kind": "duplicate key"},
    ]
    with pytest.raises(DataError, match=r"broken\.jsonl: row 1: not a JSON object$"):
        read_table(path)
