"""`FeedbackStore`: ground-truth labels in SQLite under `MLVAJRA_STATE_DIR`, never deleted.

One file per model name, outside `models/`, so both colors of a stack write the same one. WAL
mode with `synchronous=FULL`: a label is on disk when `add` returns, which is when `/feedback`
answers 201. The same feedback (record, label, source) twice is one row. The sampled prediction
log (`mlvajra.monitoring.prediction_log`) lives in the same file, so a label given for a
prediction id is scored against what that prediction said, by the version that said it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlvajra.errors import StoreUnavailableError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    feedback_id TEXT NOT NULL UNIQUE,
    prediction_id TEXT,
    record TEXT,
    label TEXT NOT NULL,
    predicted TEXT,
    version TEXT NOT NULL,
    source TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    predicted TEXT NOT NULL,
    version TEXT NOT NULL,
    logged_at REAL NOT NULL
);
"""
# A label for a prediction id is scored when (or once) that prediction is in the log: the join
# happens on read, so a label that arrives before its prediction's batch is flushed still counts.
_PAIRS = """
SELECT labels.label, COALESCE(labels.predicted, predictions.predicted), COUNT(*)
FROM labels LEFT JOIN predictions ON predictions.prediction_id = labels.prediction_id
WHERE COALESCE(predictions.version, labels.version) = ?
  AND COALESCE(labels.predicted, predictions.predicted) IS NOT NULL
GROUP BY 1, 2
"""
_LABELLED = """
SELECT COALESCE(labels.record, predictions.record), labels.label,
       COALESCE(predictions.version, labels.version), labels.prediction_id, labels.source,
       labels.received_at
FROM labels LEFT JOIN predictions ON predictions.prediction_id = labels.prediction_id
ORDER BY labels.seq
"""


@dataclass(frozen=True)
class Label:
    """One piece of ground truth: the record (or a prediction id), its label, what v predicted."""

    label: str
    version: str
    record: dict[str, Any] | None = None
    prediction_id: str | None = None
    predicted: str | None = None
    source: str | None = None

    @property
    def feedback_id(self) -> str:
        """The idempotency key: the same record or id, label and source give the same key."""
        identity = json.dumps(
            [self.prediction_id, self.record, self.label, self.source], sort_keys=True
        )
        return hashlib.sha256(identity.encode()).hexdigest()


class FeedbackStore:
    """Appends labels durably; opened on first use, so a bad state dir never stops /predict."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def add(self, labels: Sequence[Label]) -> list[Label]:
        """Commit `labels` in one transaction; return the new ones (the rest: repeats).

        A label given by prediction id comes back with what that prediction said and the version
        that said it, when the prediction is already in the log.
        """
        now = time.time()
        with self._lock:
            try:
                connection = self._open()
                stored: list[Label] = []
                with connection:  # one transaction, committed (and fsynced) on exit
                    for item in labels:
                        before = connection.total_changes
                        connection.execute(
                            "INSERT OR IGNORE INTO labels (feedback_id, prediction_id, record,"
                            " label, predicted, version, source, received_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                item.feedback_id, item.prediction_id,
                                None if item.record is None
                                else json.dumps(item.record, sort_keys=True),
                                item.label, item.predicted, item.version, item.source, now,
                            ),
                        )  # fmt: skip
                        if connection.total_changes > before:
                            stored.append(_logged(connection, item))
                return stored
            except (sqlite3.Error, OSError) as error:
                self._close()
                raise StoreUnavailableError(f"cannot store feedback: {error}") from None

    def pairs(self, version: str) -> Counter[tuple[str, str]]:
        """(label, predicted) counts of `version`'s labelled predictions."""
        if self._connection is None and not self.path.exists():
            return Counter()  # nothing stored yet: a read creates no file
        with self._lock:
            try:
                rows = self._open().execute(_PAIRS, (version,))
                return Counter({(label, predicted): n for label, predicted, n in rows})
            except (sqlite3.Error, OSError) as error:
                self._close()
                raise StoreUnavailableError(f"cannot read feedback: {error}") from None

    def labelled(self) -> list[dict[str, Any]]:
        """Every label in the order received, with its record (given, or the logged prediction's;
        None when neither is known) and the version it scores."""
        if not self.path.exists():
            return []
        with self._lock:
            try:
                rows = self._open().execute(_LABELLED).fetchall()
            except (sqlite3.Error, OSError) as error:
                self._close()
                raise StoreUnavailableError(f"cannot read feedback: {error}") from None
        return [
            {"record": None if record is None else json.loads(record), "label": label,
             "version": version, "prediction_id": prediction_id, "source": source,
             "received_at": received_at}
            for record, label, version, prediction_id, source, received_at in rows
        ]  # fmt: skip

    def log_predictions(self, rows: Sequence[tuple[str, str, str, str, float]]) -> int:
        """Append (id, record JSON, predicted, version, time) rows in one transaction."""
        with self._lock:
            try:
                connection = self._open()
                with connection:
                    before = connection.total_changes
                    connection.executemany(
                        "INSERT OR IGNORE INTO predictions (prediction_id, record, predicted,"
                        " version, logged_at) VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                    return connection.total_changes - before
            except (sqlite3.Error, OSError) as error:
                self._close()
                raise StoreUnavailableError(f"cannot log predictions: {error}") from None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _logged(connection: sqlite3.Connection, label: Label) -> Label:
    """`label` with its logged prediction's answer and version, when it names one."""
    if label.predicted is not None or label.prediction_id is None:
        return label
    row = connection.execute(
        "SELECT predicted, version FROM predictions WHERE prediction_id = ?",
        (label.prediction_id,),
    ).fetchone()
    return label if row is None else replace(label, predicted=row[0], version=row[1])
