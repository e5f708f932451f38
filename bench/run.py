"""`make bench`: mlvajra against a floor reference, in one run, with wrk on loopback.

Starts each server in turn (the floor app, mlvajra under gunicorn, mlvajra behind nginx when
available), measures cold start, c=1 and c=32 one-record throughput and latency, the latency of
1,000-record requests, and resident memory; prints a table of figures and ratios to the floor and
writes bench/results.md. Figures move 10-25 % between runs on these machines: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench import protocols as bench_protocols  # noqa: E402
from bench.servers import WORKERS, floor_server, mlvajra_server, nginx_server  # noqa: E402
from tests.fixtures import REFERENCE_ROWS  # noqa: E402


@dataclass
class Figures:
    """What one server measured."""

    name: str
    c1_rps: float = 0.0
    c1_p50_ms: float = 0.0
    c32_rps: float = 0.0
    c32_p99_ms: float = 0.0
    batch_p50_ms: float = 0.0
    busiest_worker_share: float | None = None
    cold_start_s: float = 0.0
    rss_total_mb: float = 0.0
    rss_worker_mb: float = 0.0
    errors: list[str] = field(default_factory=list)


def wrk(
    url: str,
    body_file: Path,
    connections: int,
    seconds: int,
    path: str = "/predict",
    extra_env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Run wrk with a POST body; return requests/s, p50 and p99 in ms, and error counts."""
    command = [
        "wrk",
        "-t",
        "1" if connections == 1 else "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "post.lua"),
        f"{url}{path}",
    ]
    output = subprocess.run(
        command,
        env={**os.environ, "BENCH_BODY": str(body_file), **(extra_env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for percentile in ("50", "99"):
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)  # type: ignore[union-attr]
        result[f"p{percentile}"] = value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:(.*)", output)
    result["non_2xx"] = float(non_2xx.group(1)) if non_2xx else 0.0
    result["socket_errors"] = (
        float(sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))))
        if socket_errors
        else 0.0
    )
    return result


def measure(
    start: Callable[[], object],
    name: str,
    one: Path,
    thousand: Path,
    seconds: int,
    protocols: list[str] | None = None,
) -> Figures:
    """Every figure for one server; with `protocols`, also the protocol routes' table."""
    figures = Figures(name)
    with start() as server:  # type: ignore[attr-defined]
        figures.cold_start_s = server.cold_start_s
        wrk(server.url, one, 4, 2)  # warm-up, not recorded
        c1 = wrk(server.url, one, 1, seconds)
        before = server.predictions_per_worker()
        c32 = wrk(server.url, one, 32, seconds)
        during = server.predictions_per_worker() - before
        if during:
            figures.busiest_worker_share = max(during.values()) / sum(during.values())
        batch = wrk(server.url, thousand, 1, seconds)
        figures.c1_rps, figures.c1_p50_ms = c1["rps"], c1["p50"]
        figures.c32_rps, figures.c32_p99_ms = c32["rps"], c32["p99"]
        figures.batch_p50_ms = batch["p50"]
        figures.rss_total_mb, figures.rss_worker_mb = server.rss_mb()
        if protocols is not None:
            protocols.append(bench_protocols.measure(server.url, one.parent, seconds, wrk))
        for label, run in (("c=1", c1), ("c=32", c32), ("1,000 records", batch)):
            if run["non_2xx"] or run["socket_errors"]:
                figures.errors.append(
                    f"{label}: {run['non_2xx']:.0f} non-2xx, "
                    f"{run['socket_errors']:.0f} socket errors"
                )
    return figures


def _cell(value: float, base: float | None, digits: int = 2) -> str:
    """A figure, with its ratio to the floor unless it is the floor's own."""
    ratio = "" if base is None else f" ({value / base:.2f}x)" if base else " (-)"
    return f"{value:,.{digits}f}{ratio}"


def table(rows: list[Figures]) -> str:
    """Markdown table: figures, and the ratio to the floor in parentheses."""
    floor = rows[0]
    lines = [
        "| server | c=1 req/s | c=1 p50 ms | c=32 req/s | c=32 p99 ms | 1,000-record p50 ms "
        "| cold start s | RSS MB total (largest process) | busiest worker at c=32 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = None if row is floor else floor
        cells = [
            _cell(row.c1_rps, base and base.c1_rps, 0),
            _cell(row.c1_p50_ms, base and base.c1_p50_ms),
            _cell(row.c32_rps, base and base.c32_rps, 0),
            _cell(row.c32_p99_ms, base and base.c32_p99_ms),
            _cell(row.batch_p50_ms, base and base.batch_p50_ms),
            _cell(row.cold_start_s, base and base.cold_start_s),
            f"{row.rss_total_mb:.0f} ({row.rss_worker_mb:.0f})",
            "-" if row.busiest_worker_share is None else f"{row.busiest_worker_share:.0%}",
        ]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run every server, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument(
        "--only", help="measure only servers named so (gunicorn, nginx); ratios to the first"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    model_dir = args.model_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-") as temp:
        workdir = Path(temp)
        one_body = json.dumps({"instances": [REFERENCE_ROWS[0][0]]}).encode()
        one = workdir / "one.json"
        one.write_bytes(one_body)
        thousand = workdir / "thousand.json"
        rows = [row for row, _ in REFERENCE_ROWS] * 334
        thousand.write_text(json.dumps({"instances": rows[:1000]}))
        servers = [
            ("floor", floor_server(model_dir, one_body, workdir)),
            ("mlvajra (gunicorn)", mlvajra_server(model_dir, one_body, workdir)),
            ("mlvajra (nginx)", nginx_server(model_dir, one_body, workdir)),
        ]
        if args.only:
            servers = [server for server in servers if args.only in server[0]]
        results = []
        protocol_tables: list[str] = []
        for name, start in servers:
            print(f"measuring {name} ...", flush=True)
            wanted = protocol_tables if name == "mlvajra (gunicorn)" else None
            results.append(measure(start, name, one, thousand, args.seconds, wanted))
    report = table(results)
    if protocol_tables:
        report += "\n\nProtocols on mlvajra (gunicorn), c=1:\n\n" + protocol_tables[0]
    errors = [f"- {row.name}: {error}" for row in results for error in row.errors]
    print(report)
    if errors:
        print("\n".join(["errors:", *errors]))
    cpu = psutil.cpu_count()
    args.out.write_text(
        f"# Benchmark results\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu} CPUs, "
        f"{WORKERS} workers per server, wrk on loopback, {args.seconds} s per run, one-record "
        f"requests unless said. Ratios in parentheses are to the floor (same run).\n\n{report}\n"
        + ("\n" + "\n".join(errors) + "\n" if errors else "")
    )
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
