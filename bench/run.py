"""`make bench`: mlvajra against a floor reference, in one run, with wrk on loopback.

Starts each server in turn (the floor app, mlvajra under gunicorn, mlvajra behind nginx when
available), measures cold start, c=1 and c=32 one-record throughput and latency, requests per
server CPU second at c=32, the latency of 1,000-record requests, and resident memory; then the
protocol routes on mlvajra. Prints a table of figures and ratios to the floor and issue 17's
goals, met or not, and writes its section of bench/results.md. Figures moved by up to 2x between
runs on these shared machines: the servers are measured in alternating rounds (floor, mlvajra,
nginx, then again) and each figure is its median over the rounds, so a slow minute weighs on all
of them; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench import protocols as bench_protocols  # noqa: E402
from bench.figures import (  # noqa: E402
    Figures,
    ProtocolFigures,
    goals,
    goals_table,
    median_figures,
    median_protocols,
    table,
)
from bench.sections import write_section  # noqa: E402
from bench.servers import WORKERS, floor_server, mlvajra_server, nginx_server  # noqa: E402


def wrk(
    url: str,
    body_file: Path,
    connections: int,
    seconds: int,
    path: str = "/predict",
    extra_env: dict[str, str] | None = None,
    timeout: int = 2,
) -> dict[str, float]:
    """Run wrk with a POST body; return requests/s, p50 and p99 in ms, and error counts (a
    request unanswered after `timeout` seconds counts as a socket error)."""
    command = [
        "wrk",
        "-t",
        "1" if connections == 1 else "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{timeout}s",
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
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, float]:
    """wrk --latency's report: requests/s, requests, p50 and p99 in ms, non-2xx, socket errors."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rps is None or requests is None:
        raise ValueError(f"not a wrk report: {output[:200]!r}")
    result = {"rps": float(rps.group(1)), "requests": float(requests.group(1))}
    for percentile in ("50", "99"):
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk report without its {percentile}th percentile (--latency)")
        value, unit = float(match.group(1)), match.group(2)
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
    protocols: list[ProtocolFigures] | None = None,
) -> Figures:
    """Every figure for one server; with `protocols`, also the protocol routes' figures."""
    figures = Figures(name)
    with start() as server:  # type: ignore[attr-defined]
        figures.cold_start_s = server.cold_start_s
        wrk(server.url, one, 4, 2)  # warm-up, not recorded
        c1 = wrk(server.url, one, 1, seconds)
        before, server_cpu = server.worker_cpu_seconds(), server.cpu_seconds()
        c32 = wrk(server.url, one, 32, seconds)
        server_cpu = server.cpu_seconds() - server_cpu
        figures.c32_requests_per_cpu_s = c32["requests"] / server_cpu if server_cpu else 0.0
        during = [cpu - before.get(pid, 0.0) for pid, cpu in server.worker_cpu_seconds().items()]
        if sum(during) > 0:
            figures.busiest_worker_share = max(during) / sum(during)
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


def main() -> None:
    """Parse arguments, run every server, print and write the tables and the goals."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--seconds", type=int, default=3, help="duration of each wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of every server in turn (medians taken)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument(
        "--only", help="measure only servers named so (gunicorn, nginx); ratios to the first"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    model_dir = args.model_dir.resolve()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-") as temp:
        workdir = Path(temp)
        one_body = bench_protocols.instances(1)
        one = workdir / "one.json"
        one.write_bytes(one_body)
        thousand = workdir / "thousand.json"
        thousand.write_bytes(bench_protocols.instances(1000))
        servers = [
            ("floor", floor_server(model_dir, one_body, workdir)),
            ("mlvajra (gunicorn)", mlvajra_server(model_dir, one_body, workdir)),
            ("mlvajra (nginx)", nginx_server(model_dir, one_body, workdir)),
        ]
        if args.only:
            servers = [server for server in servers if args.only in server[0]]
        rounds: dict[str, list[Figures]] = {name: [] for name, _ in servers}
        protocol_rounds: list[ProtocolFigures] = []
        for number in range(1, args.rounds + 1):
            for name, start in servers:
                print(f"round {number} of {args.rounds}: measuring {name} ...", flush=True)
                wanted = protocol_rounds if name == "mlvajra (gunicorn)" else None
                rounds[name].append(measure(start, name, one, thousand, args.seconds, wanted))
    results = [median_figures(measured) for measured in rounds.values()]
    protocol_figures = median_protocols(protocol_rounds) if protocol_rounds else None
    report = table(results)
    if protocol_figures:
        report += "\n\nProtocols on mlvajra (gunicorn), c=1:\n\n"
        report += bench_protocols.table(protocol_figures)
    found = goals(results, protocol_figures)
    if found:
        report += "\n\nGoals, from the ratios of this run:\n\n" + goals_table(found)
    errors = [f"- {row.name}: {error}" for row in results for error in row.errors]
    print(report)
    if errors:
        print("\n".join(["errors:", *errors]))
    write_section(
        args.out,
        "bench/run.py",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {psutil.cpu_count()} CPUs (load "
        f"average {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after), {WORKERS} "
        f"workers per server, wrk on loopback, {args.seconds} s per wrk run, one-record "
        f"requests unless said; each figure the median of {args.rounds} rounds, the servers "
        f"alternating. Ratios in parentheses are to the floor (same run).\n\n{report}\n"
        + ("\n" + "\n".join(errors) + "\n" if errors else ""),
    )
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
