"""File kinds: CSV, Parquet and JSON Lines, read in Arrow batches, written through a temp file."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlvajra.data.jsonlines import blocks, read_block
from mlvajra.data.kinds import (
    BATCH_ROWS,
    BLOCK_BYTES,
    ROW_PROBLEM,
    BatchWriter,
    DataKind,
    register,
)

CSV_NULLS = ("", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "<NA>")
"""CSV cells that mean "missing", for training and scoring alike: R writes NA, pandas an empty
cell, other tools the rest. Any other text is a value, judged by the field's type."""


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
        # One reading of a file: training and `mlvajra predict` see the same missing cells.
        convert = pa_csv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(text_columns, pa.string()),
            null_values=list(CSV_NULLS),
            strings_can_be_null=True,
        )
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
    """One JSON object per line; types are inferred per block by Arrow's reader, and a line it
    refuses is a row of its own (mlvajra.data.jsonlines)."""

    name = "JSON Lines"
    suffixes = (".jsonl", ".ndjson")

    def column_names(self) -> list[str]:
        self._check_readable()
        first = next(blocks(self.path, BLOCK_BYTES), b"")
        return [name for name in read_block(first).schema.names if name != ROW_PROBLEM]

    def batches(
        self, columns: list[str] | None = None, text_columns: Collection[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        self._check_readable()
        for block in blocks(self.path, BLOCK_BYTES):
            table = read_block(block)
            names = columns or [name for name in table.column_names if name != ROW_PROBLEM]
            if ROW_PROBLEM in table.column_names:
                names = [*names, ROW_PROBLEM]
            for batch in table.to_batches():
                yield pa.RecordBatch.from_arrays(
                    [_column_or_nulls(batch, name) for name in names], names=names
                )

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


def _column_or_nulls(batch: pa.RecordBatch, name: str) -> pa.Array:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return pa.nulls(batch.num_rows)
    return batch.column(index)
