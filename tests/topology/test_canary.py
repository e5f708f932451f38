"""Canary and A/B for real: nginx, two gunicorn colors and wrk as one backend with many clients."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import REFERENCE_ROWS
from tests.topology.faults import TRIGGER, ExplodingPipeline, SlowPipeline, joblib_fake
from tests.topology.keyed import KeyedLoad
from tests.topology.processes import BIN, ROOT
from tests.topology.stacks import Stack

pytestmark = pytest.mark.topology

# The colors unpickle the fakes of tests/topology/faults.py: the checkout on their path.
FAKES_ON_PATH = {"PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(ROOT)])}
GOOD = {"instances": [REFERENCE_ROWS[0][0]]}
# Valid for every version (an unseen category is no error), fatal for ExplodingPipeline.
TRIGGERING = {"instances": [dict(REFERENCE_ROWS[1][0], island=f"{TRIGGER}1")]}
QUICK = ["--steps", "10,50", "--interval", "2s", "--min-requests", "20"]
NO_SOCKET_ERRORS = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
GRACE_SECONDS = 3
"""A client may meet the old version this long after the new one: the slots' keepalive_time (2 s)
and os.time()'s whole seconds."""


def _served(stdout: str) -> tuple[int, int]:
    """The rollback's 'N client requests were answered by green (M of them 5xx)'."""
    line = next(line for line in stdout.splitlines() if "client requests were answered" in line)
    words = line.split("; ")[1].split()
    return int(words[0]), int(words[7].lstrip("("))


def test_bad_canaries_roll_back_and_a_good_one_ramps_to_100_under_load(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path, tmp_path: Path
) -> None:
    """Under wrk keep-alive load (1,000 clients over 8 connections from one address): a canary
    answering 500 on some records and a slow one are rolled back, each reporting how many client
    requests it answered, then a good one ramps 10 -> 50 -> 100 % with no failed request."""
    failing = joblib_fake(artifact_v2_dir, tmp_path / "penguins-3", "3", ExplodingPipeline)
    slow = joblib_fake(
        artifact_v2_dir, tmp_path / "penguins-4", "4", lambda p: SlowPipeline(p, 0.6)
    )
    stack.up(artifact_dir, "--workers", "2", env=FAKES_ON_PATH)
    # Bounded by time: starting each joblib canary takes 5 s on a quiet machine, 40 s on a busy one.
    load = KeyedLoad(stack.url, [GOOD, TRIGGERING], 10**7, tmp_path, seconds=300).start()
    try:
        load.wait_busy(stack.state_dir / "nginx" / "access.log")
        broken = stack.run("canary", "--model-dir", str(failing), *QUICK, env=FAKES_ON_PATH)
        slowed = stack.run(
            "canary", "--model-dir", str(slow), "--steps", "10", "--interval", "3s",
            "--min-requests", "3", env=FAKES_ON_PATH,
        )  # fmt: skip
        ramp = stack.run("canary", "--model-dir", str(artifact_v2_dir), *QUICK)
        for result in (broken, slowed, ramp):
            print(result.stdout, result.stderr)
        assert load.running(), "the load ended before the canaries did: the test proves nothing"
    finally:
        figures = load.stop()
    print(f"{figures.versions=} {figures.non_2xx=} {figures.socket_errors=} {figures.seconds=}")

    assert broken.returncode == 1
    assert broken.stderr.startswith("error: rolled back: canary failed at 10 %: success rate")
    served, failed = _served(broken.stdout)
    assert abs(served - figures.versions["3"]) <= 2, "what the clients saw of version 3"
    assert abs(failed - figures.non_2xx["3"]) <= 2
    assert failed > 0
    assert slowed.returncode == 1
    # Slow enough, the canary's workers also leave its /metrics unanswered (5 s): rolled back too.
    assert "rolled back: canary failed at 10 %: p99" in slowed.stderr or (
        "rolled back: green /metrics answered 0" in slowed.stderr
    ), slowed.stderr
    assert "above 500 ms" in slowed.stderr
    assert abs(_served(slowed.stdout)[0] - figures.versions["4"]) <= 2
    assert ramp.returncode == 0, ramp.stdout + ramp.stderr
    assert set(figures.non_2xx) == {"3"}, "only the failing canary's own 500s"
    assert figures.socket_errors == NO_SOCKET_ERRORS
    assert figures.versions["2"] > 0
    assert figures.went_back("1", "2", GRACE_SECONDS) == {}, "clients moved to 2 stay there"
    assert figures.clients("2") >= 400, "half the clients met 2 at 50 %"

    state = stack.state()
    shares = {item["weight"]: item["canary_share"] for item in state["split"]["analyses"]}
    print(f"canary share per weight: {shares}")
    assert set(shares) == {10, 50}
    assert all(abs(share - weight / 100) <= 0.05 for weight, share in shares.items()), shares
    assert state["active"] == "green"
    assert state["split"]["phase"] == "promoted"
    assert stack.served_version() == "2"
    outcomes = [(item["action"], item["outcome"]) for item in state["releases"]]
    assert outcomes == [("up", "up"), *[("canary", "refused")] * 2, ("canary", "switched")]
    status = json.loads(stack.run("status").stdout)
    assert status["weights"] == {"green": 100}
    assert status["split"]["last_analysis"]["verdict"] == "passed"


CLIENTS = 40


def _versions_per_client(url: str, clients: int, **how: Any) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    with httpx.Client(base_url=url, timeout=10) as client:
        for index in range(clients):
            key = f"ab-{index}"
            header = {"Cookie": f"mlvajra_client={key}"} if how.get("cookie") else {}
            for _ in range(3):
                response = client.post(
                    "/predict", json=GOOD, headers=header or {"X-Client-ID": key}
                )
                assert response.status_code == 200, response.text
                seen.setdefault(key, set()).add(response.headers["x-model-version"])
    return seen


def test_ab_split_is_sticky_per_client_compared_side_by_side_and_never_promotes(
    stack: Stack, artifact_dir: Path, artifact_v2_dir: Path
) -> None:
    stack.up(artifact_dir, "--workers", "1")
    command = [str(BIN / "mlvajra"), "stack", "ab", "--model-dir", str(artifact_v2_dir)]
    command += ["--weight", "50", "--duration", "20s", "--state-dir", str(stack.state_dir)]
    ab = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while (stack.state().get("split") or {}).get("weight") != 50:
            assert ab.poll() is None, ab.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(2.6)  # the slots' keepalive_time: kept connections reach the old color
        by_header = _versions_per_client(stack.url, CLIENTS)
        by_cookie = _versions_per_client(stack.url, CLIENTS, cookie=True)
        by_address = {httpx.post(f"{stack.url}/predict", json=GOOD, timeout=10).headers[
            "x-model-version"] for _ in range(10)}  # fmt: skip
        still = stack.state()["split"]["phase"]
        compare = stack.run("compare")
        status = json.loads(stack.run("status").stdout)
        stdout, stderr = ab.communicate(timeout=60)
    finally:
        if ab.poll() is None:
            ab.kill()
    print(compare.stdout, stdout, stderr)

    assert still == "running", "probed within the A/B: else they prove nothing"
    for seen in (by_header, by_cookie):
        assert all(len(versions) == 1 for versions in seen.values()), "one client, one version"
        on_b = sum(versions == {"2"} for versions in seen.values())
        assert CLIENTS // 4 <= on_b <= CLIENTS * 3 // 4, f"{on_b} of {CLIENTS} clients on B at 50 %"
    assert len(by_address) == 1, "no id, no cookie: the address decides"
    assert status["weights"] == {"blue": 50, "green": 50}
    assert compare.returncode == 0, compare.stderr
    rows = {line.split("  ")[0]: line for line in compare.stdout.splitlines()}
    assert rows[""].split() == ["blue", "(A)", "green", "(B)"]
    assert rows["model"].split() == ["model", "penguins", "1", "penguins", "2"]
    assert {"requests", "5xx", "422", "p99", "live metric"} <= set(rows)
    assert ab.returncode == 0, stderr
    assert "live metric" in stdout, "the A/B ends with the comparison"
    assert "traffic back on blue" in stdout
    assert stack.served_version() == "1", "an A/B never promotes"
    state = stack.state()
    assert state["split"]["phase"] == "ended"
    assert state["colors"]["green"] is None
    assert (state["releases"][-1]["action"], state["releases"][-1]["outcome"]) == ("ab", "ended")
