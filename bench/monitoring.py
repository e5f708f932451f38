"""Drift counting's cost: c=32 throughput with monitoring on and off, in one run, and µs/record.

    python bench/monitoring.py --model-dir models/penguins/1    # about 2 minutes

Two gunicorn services on the same artifact (MLVAJRA_MONITORING=true / false) are loaded in
turn, alternating, so a busy neighbour on a shared machine hits both alike; then `LiveCounts`
is timed in process for 1-record and 1,000-record requests. Budget (issue 13): at most 3 % of
c=32 throughput and at most 2 µs per record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import wrk  # noqa: E402
from mlvajra.artifact import read_manifest  # noqa: E402
from mlvajra.monitoring.counting import LiveCounts  # noqa: E402
from mlvajra.predictor import Predictor  # noqa: E402
from tests.fixtures import REFERENCE_ROWS  # noqa: E402
from tests.topology.processes import Gunicorn  # noqa: E402


def per_record_us(model_dir: Path, size: int, repeat: int) -> float:
    """Microseconds `LiveCounts.count` spends per record in a request of `size` records."""
    manifest = read_manifest(model_dir)
    assert manifest.reference is not None, "the artifact has no reference profile"
    live = LiveCounts(manifest.reference)
    records = [dict(REFERENCE_ROWS[i % 3][0]) for i in range(size)]
    columns = Predictor(manifest, runner=None).columns(records)  # type: ignore[arg-type]
    labels = np.array([REFERENCE_ROWS[i % 3][1] for i in range(size)], dtype=object)
    seconds = min(timeit.repeat(lambda: live.count(records, columns, labels), number=repeat))
    return seconds / repeat / size * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/penguins/1"))
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs")
    args = parser.parse_args()
    model_dir = args.model_dir.resolve()
    work = Path(tempfile.mkdtemp(prefix="mlvajra-bench-monitoring-"))
    body = work / "one.json"
    body.write_text(json.dumps({"instances": [REFERENCE_ROWS[0][0]]}))
    rps: dict[str, list[float]] = {"on": [], "off": []}
    on_dir, off_dir = work / "on", work / "off"
    on_dir.mkdir()
    off_dir.mkdir()
    with (
        Gunicorn(model_dir, on_dir, env={"MLVAJRA_MONITORING": "true"}) as on,
        Gunicorn(model_dir, off_dir, env={"MLVAJRA_MONITORING": "false"}) as off,
    ):
        for server in (on, off):
            wrk(server.url, body, 4, 2)  # warm-up, not recorded
        for _ in range(args.rounds):
            for name, server in (("on", on), ("off", off)):
                result = wrk(server.url, body, 32, args.seconds)
                if result["non_2xx"] or result["socket_errors"]:
                    # Timeouts on an overloaded machine: said, not hidden.
                    errors = result["non_2xx"] + result["socket_errors"]
                    print(f"{name}: {errors:.0f} non-2xx answers or socket errors")
                rps[name].append(result["rps"])
    median_on, median_off = statistics.median(rps["on"]), statistics.median(rps["off"])
    print(f"c=32 one-record req/s, monitoring on:  {rps['on']} (median {median_on:.0f})")
    print(f"c=32 one-record req/s, monitoring off: {rps['off']} (median {median_off:.0f})")
    print(f"throughput cost: {100 * (1 - median_on / median_off):+.1f} % (budget 3 %)")
    for size, repeat in ((1, 20_000), (16, 2_000), (1000, 200)):
        cost = per_record_us(model_dir, size, repeat)
        print(f"counting, {size}-record request: {cost:.2f} us/record")


if __name__ == "__main__":
    main()
