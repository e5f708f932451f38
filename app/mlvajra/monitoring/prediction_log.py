"""`PredictionLog`: a sample of the served predictions, written to the store off the request path.

A request is logged whole or not at all (one random draw per request, `sample` of them). The
request path only appends references to a list; a thread of the worker turns them into rows and
writes them in one transaction every `flush_seconds` and at shutdown. A SIGKILL loses what is
pending: at most `flush_seconds` of sampled predictions per worker, never more than
`max_pending` rows (beyond that, requests are not logged and the drop is counted).

Records are written as validation gives them, whichever way they were accepted: a number sent
as 3 is written 3.0, an integer sent as 2007.0 is written 2007 (`mlvajra.columnar` hands them
over as sent).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from prometheus_client import Counter

from mlvajra.artifact import InputSpec
from mlvajra.errors import StoreUnavailableError
from mlvajra.monitoring.feedback import FeedbackStore

logger = logging.getLogger("mlvajra")

PREDICTION_LOG_ROWS = Counter(
    "mlvajra_prediction_log_rows",
    "Sampled predictions by outcome: written to the store, dropped (too many pending) or failed.",
    ["outcome"],
)

_Pending = tuple[Sequence[str], Sequence[dict[str, Any]], np.ndarray[Any, Any], float]


class PredictionLog:
    """One worker's sampled predictions on their way to the `FeedbackStore`."""

    def __init__(
        self,
        store: FeedbackStore,
        version: str,
        sample: float,
        flush_seconds: float = 1.0,
        max_pending: int = 100_000,
        draw: Callable[[], float] = random.random,
        inputs: Sequence[InputSpec] = (),
    ) -> None:
        """`inputs`: the model's, whose numbers and integers are written as validation gives
        them."""
        self._store = store
        self._casts: list[tuple[str, type]] = [
            (spec.name, float if spec.type == "number" else int)
            for spec in inputs
            if spec.type in ("number", "integer")
        ]
        self._version = version
        self._sample = sample
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._draw = draw
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def offer(
        self, ids: Sequence[str], records: Sequence[dict[str, Any]], predicted: np.ndarray[Any, Any]
    ) -> None:
        """Keep one request's predictions for the next batch, if this request is sampled."""
        if self._sample < 1.0 and self._draw() >= self._sample:
            return
        with self._lock:
            if self._pending_rows + len(ids) > self._max_pending:
                PREDICTION_LOG_ROWS.labels("dropped").inc(len(ids))
                return
            self._pending.append((ids, records, predicted, time.time()))
            self._pending_rows += len(ids)

    def flush(self) -> int:
        """Write what is pending in one transaction; return the rows written."""
        with self._lock:
            pending, self._pending, self._pending_rows = self._pending, [], 0
        rows = [
            (identifier, self._text(record), str(value), self._version, logged_at)
            for ids, records, predicted, logged_at in pending
            for identifier, record, value in zip(ids, records, predicted.tolist(), strict=True)
        ]
        if not rows:
            return 0
        try:
            written = self._store.log_predictions(rows)
        except StoreUnavailableError as error:
            PREDICTION_LOG_ROWS.labels("failed").inc(len(rows))
            logger.warning("%s: %d sampled predictions not logged", error, len(rows))
            return 0
        PREDICTION_LOG_ROWS.labels("written").inc(len(rows))
        return written

    def _text(self, record: dict[str, Any]) -> str:
        """The record as JSON, its numbers and integers of the type validation gives them."""
        cast = {
            name: kind(record[name])
            for name, kind in self._casts
            if type(record.get(name)) not in (kind, type(None))
        }
        return json.dumps({**record, **cast} if cast else record, sort_keys=True)

    def start(self) -> None:
        """Flush every `flush_seconds` from a thread of this worker."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write what is still pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()
