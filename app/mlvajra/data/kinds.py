"""Where data lives: one class per kind (CSV, Parquet, JSON Lines, SQLite) reads and writes it.

A location is a path, chosen by its extension, or a URI, chosen by its scheme. Sources stream Arrow
record batches; sinks write into a temporary place and appear whole at the destination on commit,
so an interrupted run leaves nothing half written. Adding a kind is one subclass of `DataKind`
decorated with `@register` (the CSV, Parquet and JSON Lines kinds are in `files`, SQLite in
`sqlite`).
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Protocol

import pyarrow as pa

from mlvajra.errors import DataError
from mlvajra.folder import sha256_file

BLOCK_BYTES = 1 << 20
"""Bytes of text parsed per batch (CSV, JSON Lines): about 20,000 rows of penguins; larger
blocks were no faster here and raised peak memory (bench/batch.py)."""
BATCH_ROWS = 32_768
"""Rows per batch where the format counts rows (Parquet, SQLite)."""
ROW_PROBLEM = "__mlvajra_row_problem__"
"""A struct column (field, kind) a batch holds when some of its rows could not be read as values
(JSON lines with a duplicate key, a non-finite number, no object: mlvajra.data.jsonlines)."""


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
        remove_stale_temps(target)
        # The writer's pid in the name: a later run can tell a killed run's file from a live one.
        prefix = f".{target.name}.{os.getpid()}."
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
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


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temp files of `target` left by runs that were killed (SIGKILL, power loss):
    those whose writer's pid is no longer alive. Returns what was removed."""
    removed = []
    for temp in target.parent.glob(f".{glob_escape(target.name)}.*.tmp"):
        pid_text = temp.name[len(target.name) + 2 :].split(".", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed


def glob_escape(name: str) -> str:
    """`name` with glob's special characters taken literally."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """A whole source in memory (for training, where the model needs every row anyway).

    Training takes no row it cannot read: a line that batch scoring would reject fails here.
    """
    kind = open_location(location)
    tables, rows = [], 0
    for batch in kind.batches():
        index = batch.schema.get_field_index(ROW_PROBLEM)
        if index >= 0:
            problems = batch.column(index).to_pylist()
            row, problem = next((r, p) for r, p in enumerate(problems) if p is not None)
            field = f" field {problem['field']!r}:" if problem["field"] else ""
            raise DataError(f"{kind.location}: row {rows + row}:{field} {problem['kind']}")
        tables.append(pa.Table.from_batches([batch]))
        rows += batch.num_rows
    if not tables:
        return pa.table({name: pa.array([], type=pa.null()) for name in kind.column_names()})
    try:
        # Blocks of JSON Lines are typed one by one: an int column may be a float one further on.
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataError(f"{kind.location}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
