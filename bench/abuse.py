"""Hostile bodies vs a valid one, through real gunicorn: CPU, RSS and /health under attack.

    python bench/abuse.py --model-dir models/penguins/1

For each body built within the limits (MLVAJRA_MAX_INSTANCES records, the body limit sized from
the artifact's inputs): the worker's CPU time per request and its RSS growth (after the run and at
its peak) against a valid 1,000-record request, on one worker. Then /health latency while 4
clients send the costliest body to the default workers. Targets (issue 12): at most 3x the valid
request's CPU, under +20 MB RSS, /health p99 under 100 ms. Every loop is bounded in count and time.
Prints one JSON object; exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.abuse_bodies import Body, bodies  # noqa: E402
from tests.topology.processes import Gunicorn  # noqa: E402

MAX_CPU_RATIO = 3.0
MAX_RSS_GROWTH_MB = 20.0
MAX_HEALTH_P99_MS = 100.0


def _request(connection: http.client.HTTPConnection, body: Body | None) -> float:
    started = time.perf_counter()
    if body is None:
        connection.request("GET", "/health")
    else:
        headers = {"Content-Type": body.content_type}
        connection.request("POST", body.path, body=body.data, headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status < 500, response.status
    return time.perf_counter() - started


def _worker(server: Gunicorn) -> psutil.Process:
    assert server.process is not None
    return psutil.Process(server.process.pid).children()[0]


def _peak_reset(worker: psutil.Process) -> None:
    # Writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS.
    Path(f"/proc/{worker.pid}/clear_refs").write_text("5")


def _peak_mb(worker: psutil.Process) -> float:
    for line in Path(f"/proc/{worker.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def per_body(model_dir: Path, built: dict[str, Body], requests: int) -> dict[str, dict[str, float]]:
    """CPU ms per request and RSS growth, one worker, one keep-alive connection."""
    results = {}
    with (
        tempfile.TemporaryDirectory() as workdir,
        Gunicorn(model_dir, Path(workdir), workers=1) as server,
    ):
        worker = _worker(server)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        for _ in range(20):
            _request(connection, built["valid 1,000 records"])
        for name, body in built.items():
            print(f"{name} ...", file=sys.stderr, flush=True)
            rss = worker.memory_info().rss / 2**20
            _peak_reset(worker)
            _request(connection, body)  # its first time counts for RSS, not for CPU
            cpu = worker.cpu_times()
            deadline = time.monotonic() + 60
            sent = 0
            while sent < requests and time.monotonic() < deadline:
                _request(connection, body)
                sent += 1
            after = worker.cpu_times()
            used = (after.user - cpu.user) + (after.system - cpu.system)
            results[name] = {
                "bytes": len(body.data),
                "cpu_ms": round(used / sent * 1000, 2),
                "rss_growth_mb": round(worker.memory_info().rss / 2**20 - rss, 1),
                "peak_growth_mb": round(_peak_mb(worker) - rss, 1),
            }
        connection.close()
    return results


def _attack(index: int, port: int, body: Body, stop: Any, sent: Any) -> None:
    """One hostile client: `body` again and again on one connection, until told to stop."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set() and sent[index] < 10_000:
        _request(connection, body)
        sent[index] += 1
    connection.close()


def health_under_attack(model_dir: Path, body: Body, seconds: float) -> dict[str, float]:
    """/health latency while 4 clients send `body` in a loop (bounded in time and count)."""
    stop = multiprocessing.Event()
    sent = multiprocessing.Array("i", 4)
    with tempfile.TemporaryDirectory() as workdir, Gunicorn(model_dir, Path(workdir)) as server:
        # Processes, not threads: the clients' GIL must not delay the /health timings.
        threads = [
            multiprocessing.Process(target=_attack, args=(i, server.port, body, stop, sent))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        latencies = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(latencies) < 5_000:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            latencies.append(_request(connection, None))
            connection.close()
            time.sleep(0.01)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
            if thread.is_alive():
                thread.kill()
    latencies.sort()
    return {
        "health_requests": len(latencies),
        "attack_requests": sum(sent[:]),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def main() -> int:
    """Run both measurements, print them, and check the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models/penguins/1")
    parser.add_argument("--requests", type=int, default=30, help="requests per body")
    parser.add_argument("--seconds", type=float, default=15.0, help="/health under attack")
    args = parser.parse_args()
    limit, built = bodies(args.model_dir)
    results = per_body(args.model_dir, built, args.requests)
    valid = results["valid 1,000 records"]["cpu_ms"]
    for figures in results.values():
        figures["cpu_ratio"] = round(figures["cpu_ms"] / valid, 2)
    hostile = {
        name: figures
        for name, figures in results.items()
        if not name.split(": ")[-1].startswith("valid")
    }
    worst = max(hostile, key=lambda name: hostile[name]["cpu_ms"])
    health = health_under_attack(args.model_dir, built[worst], args.seconds)
    report = {"body_limit": limit, "bodies": results, "worst": worst, "health": health}
    print(json.dumps(report, indent=2))
    missed = [
        name
        for name, figures in hostile.items()
        if figures["cpu_ratio"] > MAX_CPU_RATIO or figures["peak_growth_mb"] >= MAX_RSS_GROWTH_MB
    ]
    if health["p99_ms"] >= MAX_HEALTH_P99_MS:
        missed.append("/health p99")
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
