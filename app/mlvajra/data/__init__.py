"""Where data lives: one `DataKind` per kind of location, found by extension or URI scheme."""

from mlvajra.data import files, sqlite  # noqa: F401  (each registers its kinds)
from mlvajra.data.kinds import DataKind, Sink, open_location, read_table

__all__ = ["DataKind", "Sink", "open_location", "read_table"]
