"""Where data lives: one class per kind (CSV, Parquet, JSON Lines, SQLite) reads and writes it.

A location is a path, chosen by its extension, or a URI, chosen by its scheme. Sources stream Arrow
record batches; sinks write into a temporary place and appear whole at the destination on commit,
so an interrupted run leaves nothing half written. Adding a kind is one subclass of `DataKind`
decorated with `@register`.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from app.artifact import sha256_file

BLOCK_BYTES = 1 << 20
"""Bytes of text parsed per batch (CSV, JSON Lines): about 20,000 rows of penguins; larger
blocks were no faster here and raised peak memory (bench/batch.py)."""
BATCH_ROWS = 32_768
"""Rows per batch where the format counts rows (Parquet, SQLite)."""


class DataError(Exception):
    """The data cannot be read or written; the message is one line that says why."""


class BatchWriter(Protocol):
    """What a kind returns to write one file: Arrow's own writers fit."""

    def write_table(self, table: pa.Table) -> None:
        """Append rows."""
        ...

    def close(self) -> None:
        """Finish the file."""
        ...


class DataKind(ABC):
    """One kind of location: how to read it in batches and write it atomically."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    scheme: ClassVar[str | None] = None
    untyped_text: ClassVar[bool] = False
    """True when every cell is text (CSV): validation then reads it by the model's types."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(location)

    @abstractmethod
    def column_names(self) -> list[str]:
        """The columns, in order."""

    @abstractmethod
    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        """Stream the rows; `text_columns` are read as raw text where the format is untyped."""

    def open_writer(self, path: Path, schema: pa.Schema) -> BatchWriter:
        """A writer for a file of this kind at `path` (a temporary name; `writer` renames it)."""
        raise DataError(f"cannot write {self.name}")

    def writer(self, schema: pa.Schema) -> Sink:
        """A sink that writes beside the destination and renames into place on commit."""
        return _FileSink(self, schema)

    def row_count(self) -> int | None:
        """Rows in the source when cheap to know (for a progress bar), else None."""
        return None

    def sha256(self) -> str:
        """Fingerprint of the data, recorded in manifests."""
        return sha256_file(self.path)

    def stem(self) -> str:
        """A short name for the data (default model name, rejects file name)."""
        return self.path.stem

    def exists(self) -> bool:
        """Whether there is something to read."""
        return self.path.is_file()

    def _check_readable(self) -> None:
        if not self.exists():
            raise DataError(f"no such data file: {self.location}")

    @contextmanager
    def _reader_errors(self, *errors: type[Exception]) -> Iterator[None]:
        """A reader's own exceptions become a DataError naming the location, first line only."""
        try:
            yield
        except errors as error:
            raise DataError(f"{self.location}: {_first_line(error)}") from None


class Sink(ABC):
    """Rows going out; nothing is visible at the destination before `commit`."""

    @abstractmethod
    def write(self, table: pa.Table) -> None:
        """Append rows."""

    @abstractmethod
    def commit(self) -> None:
        """Make everything written visible at once."""

    @abstractmethod
    def abort(self) -> None:
        """Drop everything written."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


class _FileSink(Sink):
    """A temporary file in the destination's folder, renamed over the destination on commit."""

    def __init__(self, kind: DataKind, schema: pa.Schema) -> None:
        target = kind.path
        if not target.parent.is_dir():
            raise DataError(f"no such folder for {kind.location}: {target.parent}")
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
        self._temp = Path(name)
        self._target = target
        self._writer: BatchWriter | None = kind.open_writer(self._temp, schema)

    def write(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._writer.write_table(table)

    def commit(self) -> None:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        self._temp.chmod(0o666 & ~umask)
        os.replace(self._temp, self._target)

    def abort(self) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        finally:
            self._temp.unlink(missing_ok=True)


_KINDS: list[type[DataKind]] = []


def register(kind: type[DataKind]) -> type[DataKind]:
    """Make a kind available to `open_location` (by its suffixes or scheme)."""
    _KINDS.append(kind)
    return kind


def kind_names() -> list[str]:
    """Registered kinds with their suffixes or scheme, for messages and help."""
    return [
        f"{kind.name} ({kind.scheme + ':' if kind.scheme else ', '.join(kind.suffixes)})"
        for kind in _KINDS
    ]


def open_location(location: str | Path) -> DataKind:
    """The kind that handles a path (by extension) or URI (by scheme)."""
    text = str(location)
    scheme = text.split(":", 1)[0].lower() if ":" in text else None
    for kind in _KINDS:
        if kind.scheme is not None and scheme == kind.scheme:
            return kind(text)
    suffix = Path(text).suffix.lower()
    for kind in _KINDS:
        if suffix in kind.suffixes:
            return kind(text)
    raise DataError(f"unsupported data location {text}: use {'; '.join(kind_names())}")


def read_table(location: str | Path) -> pa.Table:
    """A whole source in memory (for training, where the model needs every row anyway)."""
    kind = open_location(location)
    batches = list(kind.batches())
    if not batches:
        return pa.table({name: pa.array([], type=pa.null()) for name in kind.column_names()})
    return pa.Table.from_batches(batches)


@register
class CsvKind(DataKind):
    """Comma-separated text with a header row; parsed by Arrow on several threads."""

    name = "CSV"
    suffixes = (".csv",)
    untyped_text = True

    def column_names(self) -> list[str]:
        self._check_readable()
        options = pa_csv.ReadOptions(block_size=1 << 16)
        with (
            self._reader_errors(pa.ArrowInvalid),
            pa_csv.open_csv(self.path, read_options=options) as reader,
        ):
            return list(reader.schema.names)

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        self._check_readable()
        convert = pa_csv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(text_columns, pa.string()),
            strings_can_be_null=True,
        )
        if text_columns:
            # Only an empty cell is null; "NA" or "null" in a number column is text, so rejected.
            convert.null_values = [""]
        read = pa_csv.ReadOptions(block_size=BLOCK_BYTES)
        with (
            self._reader_errors(pa.ArrowInvalid, pa.ArrowKeyError),
            pa_csv.open_csv(self.path, read_options=read, convert_options=convert) as reader,
        ):
            yield from reader

    def open_writer(self, path: Path, schema: pa.Schema) -> BatchWriter:
        options = pa_csv.WriteOptions(quoting_style="needed")
        writer: BatchWriter = pa_csv.CSVWriter(path, schema, write_options=options)
        return writer


@register
class ParquetKind(DataKind):
    """Columnar files: only the needed columns are read, one row group slice at a time."""

    name = "Parquet"
    suffixes = (".parquet", ".pq")

    def column_names(self) -> list[str]:
        self._check_readable()
        with self._reader_errors(pa.ArrowInvalid, OSError):
            return list(pq.ParquetFile(self.path).schema_arrow.names)

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        self._check_readable()
        with self._reader_errors(pa.ArrowInvalid, OSError):
            yield from pq.ParquetFile(self.path).iter_batches(
                batch_size=BATCH_ROWS, columns=columns
            )

    def row_count(self) -> int | None:
        try:
            return int(pq.ParquetFile(self.path).metadata.num_rows)
        except (pa.ArrowInvalid, OSError):
            return None

    def open_writer(self, path: Path, schema: pa.Schema) -> BatchWriter:
        writer: BatchWriter = pq.ParquetWriter(path, schema)
        return writer


@register
class JsonLinesKind(DataKind):
    """One JSON object per line; types are inferred per column by Arrow's reader."""

    name = "JSON Lines"
    suffixes = (".jsonl", ".ndjson")

    def column_names(self) -> list[str]:
        self._check_readable()
        with self._reader_errors(pa.ArrowInvalid):
            return list(self._reader(BLOCK_BYTES).schema.names)

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        self._check_readable()
        with self._reader_errors(pa.ArrowInvalid):
            for batch in self._reader(BLOCK_BYTES):
                if columns is None:
                    yield batch
                else:
                    yield pa.RecordBatch.from_arrays(
                        [_column_or_nulls(batch, name) for name in columns], names=columns
                    )

    def _reader(self, block_bytes: int) -> Any:
        options = pa_json.ReadOptions(block_size=block_bytes)
        return pa_json.open_json(self.path, read_options=options)

    def open_writer(self, path: Path, schema: pa.Schema) -> BatchWriter:
        return _JsonLinesWriter(path)


class _JsonLinesWriter:
    """Rows as JSON objects, one per line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write_table(self, table: pa.Table) -> None:
        option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
        self._file.write(b"".join(orjson.dumps(row, option=option) for row in table.to_pylist()))

    def close(self) -> None:
        self._file.close()


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


def _column_or_nulls(batch: pa.RecordBatch, name: str) -> pa.Array:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return pa.nulls(batch.num_rows)
    return batch.column(index)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
