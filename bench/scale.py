"""`make bench-scale`: how far one machine goes, and the per-core figure to size a deployment by.

mlvajra under gunicorn as deployed (bench/servers.py), wrk at c=32 on loopback (bench/run.py's
wrk), in one run: records per request 1, 10, 100 and 1,000 on 2 workers, and 1 and 4 workers
with one-record requests, three servers up at once and measured in turns. Each run also takes the
server's CPU seconds (psutil, every gunicorn process, before and after), so requests and rows per
CPU second can be read off: what one core serves. wrk shares the cores with the server (and here
with other jobs), so every figure is noisy. About 3 minutes (3 rounds of 6 runs of 8 s).
Writes its section of bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.protocols import instances  # noqa: E402
from bench.run import wrk  # noqa: E402
from bench.sections import write_section  # noqa: E402
from bench.servers import WORKERS, mlvajra_server  # noqa: E402

RECORDS = (1, 10, 100, 1000)
WORKER_COUNTS = (1, 2, 4)
CONNECTIONS = 32
# 32 queued 1,000-record requests on 2 cores wait long: past wrk's default 2 s, a slow answer
# would count as a socket error and cap p99. A request still unanswered after 10 s is an error.
TIMEOUT = 10


@dataclass(frozen=True)
class Run:
    """One wrk run at c=32 against one server, with the server's CPU time over it."""

    workers: int
    records: int
    result: dict[str, float]
    cpu_seconds: float
    wall_seconds: float

    @property
    def cores_busy(self) -> float:
        """The server's CPU seconds per second of the run (2.0 = both cores of this machine)."""
        return self.cpu_seconds / self.wall_seconds

    @property
    def requests_per_cpu_second(self) -> float:
        """Requests answered per CPU second of the server: one core's worth."""
        return self.result["requests"] / self.cpu_seconds

    def cells(self) -> list[str]:
        """req/s, rows/s, p50, p99, cores busy, requests and rows per CPU second."""
        rps, per_cpu = self.result["rps"], self.requests_per_cpu_second
        return [
            f"{rps:,.0f}",
            f"{rps * self.records:,.0f}",
            f"{self.result['p50']:.2f}",
            f"{self.result['p99']:.2f}",
            f"{self.cores_busy:.2f}",
            f"{per_cpu:,.0f}",
            f"{per_cpu * self.records:,.0f}",
        ]


def measure(server: Any, workers: int, records: int, body: Path, seconds: int) -> Run:
    """One c=32 run of `seconds` against a started server, with its CPU seconds over the run."""
    cpu, wall = server.cpu_seconds(), time.monotonic()
    result = wrk(server.url, body, CONNECTIONS, seconds, timeout=TIMEOUT)
    wall, cpu = time.monotonic() - wall, server.cpu_seconds() - cpu
    print(f"  {workers} workers, {records} records: {result['rps']:,.0f} req/s", flush=True)
    return Run(workers, records, result, cpu, wall)


def median_run(runs: list[Run]) -> Run:
    """The run with the median req/s (the lower middle one of an even count): its figures
    stay those of one run."""
    return sorted(runs, key=lambda run: run.result["rps"])[(len(runs) - 1) // 2]


_COLUMNS = (
    "req/s | rows/s | p50 ms | p99 ms | server CPU (cores) | req per CPU s | rows per CPU s |"
)


def _rows(groups: list[list[Run]], key: str) -> list[str]:
    lines = []
    for runs in groups:
        run, rates = median_run(runs), [run.result["rps"] for run in runs]
        spread = f" ({min(rates):,.0f}-{max(rates):,.0f})" if len(runs) > 1 else ""
        first, *rest = run.cells()
        lines.append(f"| {getattr(run, key):,} | {first}{spread} | " + " | ".join(rest) + " |")
    return lines


def report(runs: list[Run], seconds: int, rounds: int, load_before: float) -> str:
    """The section for bench/results.md: two tables of median runs and the sizing figures."""
    groups: dict[tuple[int, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.workers, run.records), []).append(run)
    by_records = [groups[WORKERS, records] for records in RECORDS]
    by_workers = [groups[workers, 1] for workers in WORKER_COUNTS]
    columns = (
        f"median req/s (range of {rounds}) | rows/s | p50 ms | p99 ms | server CPU (cores) "
        "| req per CPU s | rows per CPU s |"
    )
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {psutil.cpu_count()} CPUs (load "
        f"average {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after); mlvajra "
        f"under gunicorn, wrk c={CONNECTIONS} on loopback, {rounds} rounds of {seconds} s per "
        "row, alternating between the servers; each row is the run with the median req/s.",
        "",
        f"Records per request ({WORKERS} workers):",
        "",
        f"| records | {columns}",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *_rows(by_records, "records"),
        "",
        f"Workers (one-record requests; the {WORKERS}-worker row is the 1-record row above):",
        "",
        f"| workers | {columns}",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *_rows(by_workers, "workers"),
    ]
    one, largest = median_run(by_records[0]), median_run(by_records[-1])
    lines += [
        "",
        f"Per CPU second of the server ({WORKERS} workers): {one.requests_per_cpu_second:,.0f}"
        f" one-record requests, or {largest.requests_per_cpu_second * largest.records:,.0f}"
        f" rows in {largest.records:,}-record requests.",
    ]
    errors = [
        f"- {run.workers} workers, {run.records} records: {run.result['non_2xx']:.0f} non-2xx, "
        f"{run.result['socket_errors']:.0f} socket errors"
        for run in runs
        if run.result["non_2xx"] or run.result["socket_errors"]
    ]
    return "\n".join(lines + (["", *errors] if errors else [])) + "\n"


def main() -> None:
    """Start every server, run the rounds alternating between them, print and write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per row, alternating")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    model_dir = args.model_dir.resolve()
    load_before = os.getloadavg()[0]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-scale-") as temp, ExitStack() as stack:
        workdir = Path(temp)
        bodies = {}
        for records in RECORDS:
            bodies[records] = workdir / f"{records}.json"
            bodies[records].write_bytes(instances(records))
        servers = {}
        for workers in WORKER_COUNTS:
            folder = workdir / f"workers-{workers}"
            folder.mkdir()
            start = mlvajra_server(model_dir, bodies[1].read_bytes(), folder, workers=workers)
            servers[workers] = stack.enter_context(start())  # type: ignore[arg-type]
            wrk(servers[workers].url, bodies[1], 4, 2)  # warm-up, not recorded
        # The deployed worker count with every request size, the others with one record; in
        # turns, so a busy neighbour on a shared machine hits every row alike.
        plan = [(WORKERS, records) for records in RECORDS]
        plan += [(workers, 1) for workers in WORKER_COUNTS if workers != WORKERS]
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} of {args.rounds}", flush=True)
            for workers, records in plan:
                runs.append(
                    measure(servers[workers], workers, records, bodies[records], args.seconds)
                )
    section = report(runs, args.seconds, args.rounds, load_before)
    print(section)
    write_section(args.out, "bench/scale.py", section)
    if any(run.result["non_2xx"] or run.result["socket_errors"] for run in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
