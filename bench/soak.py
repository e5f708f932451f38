"""Memory soak: N requests against real gunicorn, RSS per worker after warm-up vs at the end.

    python bench/soak.py --model-dir models/penguins/1            # 100,000 requests, 2 workers

A mix of valid, invalid and malformed bodies and the GET endpoints, over keep-alive connections
that reconnect every few hundred requests so both workers get traffic. Fails (exit 1) when a
worker's RSS grows more than --max-growth after warm-up, a worker restarts, an answer has an
unexpected status, or the time bound is hit first. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures import REFERENCE_ROWS  # noqa: E402
from tests.topology.processes import Gunicorn  # noqa: E402

RECORD = REFERENCE_ROWS[0][0]
REQUESTS_PER_CONNECTION = 500


def _post(body: bytes) -> bytes:
    return (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def _mix() -> list[tuple[bytes, int]]:
    """One round of the request mix: (raw request, expected status), 20 requests."""
    one = json.dumps({"instances": [RECORD]}).encode()
    ten = json.dumps({"instances": [dict(RECORD, year=2007 + i % 3) for i in range(10)]}).encode()
    unseen = json.dumps({"instances": [dict(RECORD, island="Atlantis", sex=None)]}).encode()
    invalid = json.dumps({"instances": [dict(RECORD, year="x", colour=1)] * 3}).encode()
    return (
        [(_post(one), 200)] * 10
        + [(_post(ten), 200)] * 2
        + [(_post(unseen), 200)]
        + [(_post(invalid), 422)] * 3
        + [(_post(b'{"instances": ['), 400)]
        + [(_get("/health"), 200), (_get("/ready"), 200), (_get("/version"), 200)]
    )


class Load:
    """Shared counters of the client side."""

    def __init__(self, total: int, deadline: float) -> None:
        self.total = total
        self.deadline = deadline
        self.sent = 0
        self.done = 0
        self.statuses: Counter[int] = Counter()
        self.unexpected: Counter[str] = Counter()

    def take(self) -> bool:
        if self.sent >= self.total or time.monotonic() > self.deadline:
            return False
        self.sent += 1
        return True


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _connection(port: int, load: Load, requests: itertools.cycle[tuple[bytes, int]]) -> None:
    while load.take():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            first = True
            for _ in range(REQUESTS_PER_CONNECTION):
                if not first and not load.take():
                    break
                first = False
                request, expected = next(requests)
                status = await _exchange(reader, writer, request)
                load.done += 1
                load.statuses[status] += 1
                if status != expected:
                    load.unexpected[f"{status} instead of {expected}"] += 1
        finally:
            writer.close()
            await writer.wait_closed()


async def _run(port: int, load: Load, connections: int) -> None:
    requests = itertools.cycle(_mix())
    await asyncio.gather(*(_connection(port, load, requests) for _ in range(connections)))


def _worker_rss(master: psutil.Process) -> dict[int, int]:
    return {child.pid: child.memory_info().rss for child in master.children()}


def main() -> int:
    """Run the soak; print the figures; exit 1 on growth, restarts or wrong answers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=10_000, help="requests before the baseline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-growth", type=float, default=0.05, help="0.05 = 5 %%")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + args.max_seconds
    with tempfile.TemporaryDirectory(prefix="mlvajra-soak-") as scratch:
        server = Gunicorn(args.model_dir.resolve(), Path(scratch), workers=args.workers).start()
        port = server.port
        try:
            server.wait_ready(60)
            assert server.process is not None
            master = psutil.Process(server.process.pid)
            warm = Load(args.warmup, deadline)
            asyncio.run(_run(port, warm, args.connections))
            baseline = _worker_rss(master)
            soak = Load(args.requests - warm.done, deadline)
            soak_started = time.monotonic()
            asyncio.run(_run(port, soak, args.connections))
            soak_seconds = time.monotonic() - soak_started
            final = _worker_rss(master)
        finally:
            server.stop(60)
        served: Counter[int] = Counter()
        for line in server.log().splitlines():
            if line.startswith("{") and '"mlvajra.access"' in line:
                served[json.loads(line)["pid"]] += 1

    total = warm.done + soak.done
    statuses = warm.statuses + soak.statuses
    unexpected = warm.unexpected + soak.unexpected
    print(
        f"requests: {total:,} in {time.monotonic() - started:.1f} s "
        f"(after warm-up: {soak.done:,} at {soak.done / soak_seconds:,.0f} req/s)"
    )
    print(f"statuses: {dict(sorted(statuses.items()))}")
    print(f"served per worker pid: {dict(served)}")
    failures = []
    for pid, before in sorted(baseline.items()):
        after = final.get(pid)
        if after is None:
            failures.append(f"worker {pid} is gone (restarted?)")
            continue
        growth = after / before - 1
        print(
            f"worker {pid}: RSS {before / 2**20:.1f} MiB after {warm.done:,} requests, "
            f"{after / 2**20:.1f} MiB at the end: {growth:+.2%}"
        )
        if growth > args.max_growth:
            failures.append(f"worker {pid} grew {growth:.2%} > {args.max_growth:.0%}")
    if set(final) != set(baseline):
        failures.append(f"worker pids changed: {sorted(baseline)} -> {sorted(final)}")
    if total < args.requests:
        failures.append(f"only {total:,} of {args.requests:,} requests before the time bound")
    if unexpected:
        failures.append(f"unexpected answers: {dict(unexpected)}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print(f"PASS: RSS growth per worker <= {args.max_growth:.0%} after warm-up")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
