"""Training progress: one line per stage on stderr, with the seconds since training started.

Measured before: 50,000 rows trained for a minute with no output at all. stdout stays for the
result (`wrote models/<name>/<version>`), so scripts can still read it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

_started = time.perf_counter()


def start() -> None:
    """Start the clock for this training run."""
    global _started
    _started = time.perf_counter()


def report(message: str) -> None:
    """One progress line: `mlvajra train [12.3s] <message>`."""
    elapsed = time.perf_counter() - _started
    print(f"mlvajra train [{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


class FoldReporter:
    """A scorer wrapper for `cross_val_score`: reports each fold as it is scored."""

    def __init__(self, scorer: Any, folds: int) -> None:
        self._scorer = scorer
        self._folds = folds
        self._done = 0

    def __call__(self, estimator: Any, features: Any, target: Any) -> float:
        """Score one fold, then say so."""
        value = float(self._scorer(estimator, features, target))
        self._done += 1
        report(f"cross-validation fold {self._done}/{self._folds}: {value:.4f}")
        return value
