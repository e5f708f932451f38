"""wrk as one backend forwarding many clients (keyed.lua), and what each client saw."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.topology.processes import WRK


@dataclass
class KeyedResult:
    """Responses and non-2xx per model version; per client and version the first and last second
    it was seen; wrk's socket errors."""

    versions: dict[str, int]
    non_2xx: dict[str, int]
    first_seen: dict[str, int]
    last_seen: dict[str, int]
    socket_errors: dict[str, int]
    seconds: float

    def went_back(self, old: str, new: str, grace: int) -> dict[str, int]:
        """Clients that met `old` more than `grace` seconds after they first met `new`: how long."""
        late = {}
        for key, first in self.first_seen.items():
            client, version = key.split("/")
            if version != new:
                continue
            last_old = self.last_seen.get(f"{client}/{old}")
            if last_old is not None and last_old - first > grace:
                late[client] = last_old - first
        return late

    def clients(self, version: str) -> int:
        """How many clients met `version` at least once."""
        return sum(key.endswith(f"/{version}") for key in self.first_seen)


class KeyedLoad:
    """wrk with keyed.lua: `ids` clients over `connections` keep-alive connections, bounded in
    count (per thread) and in time."""

    def __init__(
        self,
        url: str,
        bodies: list[dict[str, Any]],
        requests: int,
        workdir: Path,
        ids: int = 1000,
        connections: int = 8,
        seconds: int = 120,
        threads: int = 2,
    ) -> None:
        self.threads = threads
        self.markers = Path(tempfile.mkdtemp(prefix="wrk-", dir=workdir))
        self.command = [
            WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(Path(__file__).with_name("keyed.lua")), f"{url}/predict",
            "--", str(-(-requests // threads)), str(ids), str(self.markers),
            *(json.dumps(body) for body in bodies),
        ]  # fmt: skip
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> KeyedLoad:
        """Start wrk in the background."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def running(self) -> bool:
        """wrk has not finished yet."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> KeyedResult:
        """Interrupt wrk (it prints its summary on SIGINT) and parse the JSON line."""
        assert self.process is not None
        if self.running():
            self.process.send_signal(signal.SIGINT)
        stdout, stderr = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, stderr
        raw = json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))
        return KeyedResult(
            versions=raw["versions"],
            non_2xx=raw["non_2xx"],
            first_seen=raw["first_seen"],
            last_seen=raw["last_seen"],
            socket_errors=raw["errors"],
            seconds=raw["seconds"],
        )

    def wait_busy(self, access_log: Path, logged_bytes: int = 100_000) -> None:
        """nginx has logged a first batch of requests (it flushes its log each second)."""
        deadline = time.monotonic() + 30
        while not access_log.exists() or access_log.stat().st_size < logged_bytes:
            assert self.running(), "wrk ended before the load started"
            assert time.monotonic() < deadline, "the load never started"
            time.sleep(0.1)
