"""What one durable label costs: SQLite WAL with synchronous=FULL (the store) vs JSON Lines + fsync.

    python bench/feedback_store.py [--writes 300] [--dir /path/on/the/state/volume]

Each write is one label committed on its own, as one POST /feedback with one item is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))
sys.path.insert(0, str(ROOT))

from mlvajra.monitoring.feedback import FeedbackStore, Label  # noqa: E402
from tests.fixtures import REFERENCE_ROWS  # noqa: E402


def _labels(count: int) -> list[Label]:
    row, label = REFERENCE_ROWS[0]
    return [Label(label=label, version="1", record={**row, "n": i}) for i in range(count)]


def sqlite_us(folder: Path, count: int) -> float:
    store = FeedbackStore(folder / "labels.sqlite")
    labels = _labels(count)
    started = time.perf_counter()
    for label in labels:
        store.add([label])
    return (time.perf_counter() - started) / count * 1e6


def jsonl_us(folder: Path, count: int) -> float:
    labels = _labels(count)
    started = time.perf_counter()
    with (folder / "labels.jsonl").open("ab") as sink:
        for label in labels:
            line = {"label": label.label, "record": label.record, "id": label.feedback_id}
            sink.write(json.dumps(line).encode() + b"\n")
            sink.flush()
            os.fsync(sink.fileno())
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mlvajra-store-", dir=args.dir))
    sqlite, jsonl = sqlite_us(folder, args.writes), jsonl_us(folder, args.writes)
    print(f"SQLite WAL, synchronous=FULL, one label per commit: {sqlite:.0f} us per label")
    print(f"JSON Lines, fsync per line:                         {jsonl:.0f} us per label")


if __name__ == "__main__":
    main()
