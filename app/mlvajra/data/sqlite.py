"""SQLite: a table or a query read in cursor batches, a table written in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pyarrow as pa

from mlvajra.data.kinds import BATCH_ROWS, DataKind, Sink, register
from mlvajra.errors import DataError


@register
class SqliteKind(DataKind):
    """A SQLite table or query: `sqlite:///data.db?table=T` or `sqlite:///data.db?query=SELECT...`.

    Three slashes and a relative path, four for an absolute one, as in SQLAlchemy.
    """

    name = "SQLite"
    scheme = "sqlite"

    def __init__(self, location: str) -> None:
        super().__init__(location)
        rest = location.split(":", 1)[1]
        if not rest.startswith("///"):
            raise DataError(f"{location}: write sqlite:///path.db?table=T (or ?query=...)")
        path, _, query = rest[3:].partition("?")
        options = {key: values[-1] for key, values in parse_qs(query).items()}
        self.path = Path(path)
        self.table = options.get("table")
        self.query = options.get("query")
        if (self.table is None) == (self.query is None):
            raise DataError(f"{location}: give exactly one of ?table=NAME or ?query=SELECT...")

    def stem(self) -> str:
        return self.table or self.path.stem

    def column_names(self) -> list[str]:
        self._check_readable()
        connection = self._connect()
        try:
            cursor = connection.execute(f"SELECT * FROM ({self._select()}) LIMIT 0")  # noqa: S608
            return [column[0] for column in cursor.description]
        except sqlite3.Error as error:
            raise DataError(f"{self.location}: {error}") from None
        finally:
            connection.close()

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        self._check_readable()
        connection = self._connect()
        try:
            cursor = connection.execute(self._select())
            names = [column[0] for column in cursor.description]
            wanted = columns if columns is not None else names
            missing = [name for name in wanted if name not in names]
            if missing:
                raise DataError(f"{self.location}: no column {missing[0]!r}")
            positions = [names.index(name) for name in wanted]
            while rows := cursor.fetchmany(BATCH_ROWS):
                cells = list(zip(*rows, strict=True))
                yield pa.RecordBatch.from_arrays(
                    [arrow_column(list(cells[i])) for i in positions], names=wanted
                )
        except sqlite3.Error as error:
            raise DataError(f"{self.location}: {error}") from None
        finally:
            connection.close()

    def row_count(self) -> int | None:
        if not self.exists():
            return None
        connection = self._connect()
        try:
            (count,) = connection.execute(f"SELECT count(*) FROM ({self._select()})").fetchone()  # noqa: S608
            return int(count)
        except sqlite3.Error:
            return None
        finally:
            connection.close()

    def writer(self, schema: pa.Schema) -> Sink:
        if self.table is None:
            raise DataError(f"{self.location}: write to a table (?table=NAME), not a query")
        if not self.path.parent.is_dir():
            raise DataError(f"no such folder for {self.location}: {self.path.parent}")
        return _SqliteSink(self.path, self.table, schema)

    def _connect(self) -> sqlite3.Connection:
        # Read-only: reading must never create or change a database.
        return sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)

    def _select(self) -> str:
        return self.query or f"SELECT * FROM {_quote(self.table or '')}"  # noqa: S608


class _SqliteSink(Sink):
    """One transaction: the table is replaced whole on commit or not at all."""

    _TYPES: ClassVar[dict[str, str]] = {"i": "INTEGER", "f": "REAL", "b": "INTEGER"}

    def __init__(self, path: Path, table: str, schema: pa.Schema) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("BEGIN")
        self._table = _quote(table)
        columns = ", ".join(
            f"{_quote(field.name)} {self._sql_type(field.type)}" for field in schema
        )
        self._connection.execute(f"DROP TABLE IF EXISTS {self._table}")
        self._connection.execute(f"CREATE TABLE {self._table} ({columns})")
        marks = ", ".join("?" for _ in schema)
        self._insert = f"INSERT INTO {self._table} VALUES ({marks})"  # noqa: S608

    def _sql_type(self, kind: pa.DataType) -> str:
        if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
            return "INTEGER"
        if pa.types.is_floating(kind):
            return "REAL"
        return "TEXT"

    def write(self, table: pa.Table) -> None:
        columns = [column.to_pylist() for column in table.columns]
        self._connection.executemany(self._insert, zip(*columns, strict=True))

    def commit(self) -> None:
        self._connection.execute("COMMIT")
        self._connection.close()

    def abort(self) -> None:
        try:
            self._connection.execute("ROLLBACK")
        finally:
            self._connection.close()


def arrow_column(values: list[Any]) -> pa.Array:
    """Python values as one Arrow array keeping each value's type (a union when they differ)."""
    kinds = list(dict.fromkeys(type(value) for value in values if value is not None))
    if len(kinds) <= 1:
        return pa.array(values, type=_ARROW_TYPES[kinds[0]] if kinds else pa.null())
    # An int next to a float must stay an int (an integer field rejects floats), so no promotion.
    codes = [0 if value is None else kinds.index(type(value)) for value in values]
    children: list[list[Any]] = [[] for _ in kinds]
    offsets = []
    for code, value in zip(codes, values, strict=True):
        offsets.append(len(children[code]))
        children[code].append(value)
    return pa.UnionArray.from_dense(
        pa.array(codes, type=pa.int8()),
        pa.array(offsets, type=pa.int32()),
        [
            pa.array(child, type=_ARROW_TYPES[kind])
            for kind, child in zip(kinds, children, strict=True)
        ],
    )


_ARROW_TYPES: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bytes: pa.binary(),
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
