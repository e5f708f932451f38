"""Canary and A/B: the new release on the idle color takes a share of clients through the slots."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from mlvajra.errors import StackError
from mlvajra.stack.analysis import Analysis, Snapshot, Thresholds, judge
from mlvajra.stack.history import Action, Outcome, ReleaseRecord, describe
from mlvajra.stack.nginx import SLOT_KEEPALIVE_TIME, SLOTS
from mlvajra.stack.platform import Backend, ColorState, process_alive
from mlvajra.stack.state import SplitKind, SplitState, StackState
from mlvajra.stack.switch import (
    COLORS,
    check_schema,
    finish,
    point_and_confirm,
    record_refusal,
    refuse_during_split,
    release_of,
    start_gated,
)

Say = Callable[[str], None]
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
SETTLE_SECONDS = SLOT_KEEPALIVE_TIME + 0.5
"""After slots move, kept upstream connections reach the old color this long: not judged."""
QUIET_SECONDS = 0.5
"""A rolled back color whose count did not move for this long has answered its last request."""


def parse_duration(text: str, option: str) -> float:
    """`60s`, `1m`, `500ms`, `2h` or plain seconds, or a one-line error naming the option."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise StackError(f"{option} {text!r}: give a duration such as 60s, 5m or 500ms")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_weights(text: str, option: str) -> list[int]:
    """Increasing percentages in steps of 100 / SLOTS, each below 100, or a one-line error."""
    step = 100 // SLOTS
    try:
        weights = [int(part) for part in text.split(",")]
    except ValueError:
        weights = []
    valid = all(0 < weight < 100 and weight % step == 0 for weight in weights)
    if not weights or not valid or weights != sorted(set(weights)):
        raise StackError(
            f"{option} {text!r}: give increasing percentages below 100 in steps of {step}, "
            "e.g. 5,10,25,50"
        )
    return weights


class _Split:
    """A release started on the idle color next to the active one, and the split between them."""

    def __init__(self, state_dir: Path, kind: SplitKind, say: Say) -> None:
        self.state_dir = state_dir
        self.state = StackState.load(state_dir)
        refuse_during_split(self.state)
        self.backend: Backend = self.state.backend_for(state_dir)
        stable = self.state.colors.get(self.state.active)
        if stable is None:
            raise StackError("no active color: run `mlvajra stack up` first")
        self.stable = stable
        self.kind: SplitKind = kind
        self.action: Action = kind
        self.say = say
        self.split = SplitState(kind=kind, color="", controller_pid=os.getpid())
        self.start_counts = Snapshot()

    def start(self, model_dir: Path, ready_timeout: float, allow_schema_change: bool) -> ColorState:
        """Gate the new release on the idle color; record a refusal and raise if it fails."""
        release, manifest = release_of(model_dir)
        idle = next(color for color in COLORS if color != self.stable.color)
        self.say(f"stable {self.stable.color}: {describe(self.stable.release())}")
        self.say(f"{self.kind} {idle}: {describe(release)}")
        try:
            check_schema(self.stable, manifest, allow_schema_change)
            new = start_gated(
                self.state, self.backend, idle, release, manifest, ready_timeout, self.say
            )
            try:
                self.start_counts = self.counts(new)
            except BaseException:
                self.backend.stop_color(new)
                raise
        except BaseException as error:
            record_refusal(self.state_dir, self.state, self.action, idle, release, error)
            raise StackError(f"refused: {error}; traffic stays on {self.stable.color}") from None
        self.new = new
        self.split.color = idle
        self.state.colors[idle] = new
        self.state.split = self.split
        self.state.save(self.state_dir)
        return new

    def counts(self, color: ColorState) -> Snapshot:
        """`color`'s prediction counters from its own /metrics (not through nginx)."""
        status, body = self.backend.color_request(color, "GET", "/metrics")
        if status != 200:
            raise StackError(f"{color.color} /metrics answered {status}: {body[:120]!r}")
        return Snapshot.parse(body.decode(errors="replace"))

    def set_weight(self, weight: int) -> None:
        """Point weight / 100 of the slots at the new color, save, and wait until it applies."""
        self.backend.split_edge(self.stable, self.new, weight * SLOTS // 100)
        self.split.weight = weight
        self.state.save(self.state_dir)
        self.say(f"weight {weight} %: {self.new.color} takes that share of clients")
        time.sleep(SETTLE_SECONDS)

    def measure(self, seconds: float, limits: Thresholds) -> Analysis:
        """Both colors' counters over `seconds`, judged; saved as the last analysis."""
        canary_before, stable_before = self.counts(self.new), self.counts(self.stable)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.backend.color_running(self.new):
                raise StackError(f"{self.new.color} stopped running (log: {self.new.log})")
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        canary = self.counts(self.new).since(canary_before)
        stable = self.counts(self.stable).since(stable_before)
        analysis = judge(self.split.weight, canary, stable, limits)
        self.split.analyses = [*self.split.analyses, analysis][-50:]
        self.state.save(self.state_dir)
        self.say(analysis.line())
        return analysis

    def _quiet_counts(self, within: float = 10.0) -> Snapshot:
        """The new color's counts once requests still in flight there have been answered."""
        deadline = time.monotonic() + within
        counts = self.counts(self.new)
        while time.monotonic() < deadline:
            time.sleep(QUIET_SECONDS)
            again = self.counts(self.new)
            if again.requests == counts.requests:
                break
            counts = again
        return counts

    def restore(self, error: BaseException | None) -> None:
        """Every slot back on the stable color, the new one drained and stopped, recorded."""
        self.backend.point_edge_at(self.stable)
        time.sleep(SETTLE_SECONDS)  # kept connections to the new color expire first
        try:
            served = self._quiet_counts().since(self.start_counts)
            self.split.served = served.requests
            self.split.served_5xx = round(served.share("5") * served.requests)
        except StackError:
            pass
        ended = self.backend.stop_color(self.new)
        self.state.colors[self.new.color] = None
        self.split.weight = 0
        self.split.phase = "ended" if error is None else "rolled back"
        outcome: Outcome = "ended" if error is None else "interrupted"
        if isinstance(error, StackError):
            outcome = "refused"
        reason = "" if error is None else str(error) or type(error).__name__
        record = ReleaseRecord.now(self.action, self.new.color, self.new.release(), outcome, reason)
        self.state.record(record)
        self.state.save(self.state_dir)
        served_line = (
            f"{self.split.served} client requests were answered by {self.new.color} "
            f"({self.split.served_5xx} of them 5xx)"
            if self.split.served is not None
            else f"{self.new.color}'s counts could not be read"
        )
        self.say(f"traffic back on {self.stable.color}; {served_line}; {self.new.color} {ended}")

    def promote(self) -> None:
        """The existing switch's last steps: every slot on the new color, confirm, drain."""
        release = self.new.release()
        point_and_confirm(self.backend, self.stable, self.new, release, self.say)
        self.split.weight = 100
        self.split.phase = "promoted"
        record = ReleaseRecord.now(self.action, self.new.color, release, "switched")
        finish(self.state_dir, self.state, self.backend, record, self.new, self.say)


def canary(
    state_dir: Path,
    model_dir: Path,
    steps: list[int],
    interval: float,
    limits: Thresholds,
    ready_timeout: float,
    say: Say = print,
    *,
    allow_schema_change: bool = False,
) -> bool:
    """Ramp the new release through `steps`, judging each interval; promote or roll back.

    Returns True when promoted. A failed or interrupted canary puts every client back on the
    stable color before this returns or raises.
    """
    split = _Split(state_dir, "canary", say)
    split.start(model_dir, ready_timeout, allow_schema_change)
    split.split.steps = steps
    failures = 0
    try:
        for weight in steps:
            split.set_weight(weight)
            inconclusive = 0
            while True:
                analysis = split.measure(interval, limits)
                if analysis.verdict == "passed":
                    break
                if analysis.verdict == "failed":
                    failures += 1
                    if failures > limits.failure_limit:
                        raise StackError(
                            f"canary failed at {weight} %: " + "; ".join(analysis.reasons)
                        )
                else:
                    inconclusive += 1
                    if inconclusive >= limits.inconclusive_limit:
                        raise StackError(
                            f"no verdict at {weight} % after {inconclusive} intervals: "
                            + "; ".join(analysis.reasons)
                        )
        split.promote()
    except BaseException as error:
        if split.split.phase == "running":
            split.restore(error)
            if isinstance(error, StackError):
                raise StackError(f"rolled back: {error}") from None
        raise
    return True


def ab_test(
    state_dir: Path,
    model_dir: Path,
    weight: int,
    duration: float,
    ready_timeout: float,
    say: Say = print,
    *,
    allow_schema_change: bool = False,
    report: Callable[[Backend, list[ColorState]], None] | None = None,
) -> None:
    """A fixed split for `duration`, then every client back on the stable color: no promotion.

    `report` sees both colors just before the new one stops (the CLI prints `stack compare`).
    """
    split = _Split(state_dir, "ab", say)
    new = split.start(model_dir, ready_timeout, allow_schema_change)
    split.split.steps = [weight]
    try:
        split.set_weight(weight)
        split.measure(duration, Thresholds(min_requests=0))
        if report is not None:
            report(split.backend, [split.stable, new])
    except BaseException as error:
        split.restore(error)
        raise
    split.restore(None)


def abort(state_dir: Path, say: Say = print, wait: float = 60.0) -> None:
    """Put every client back on the stable color and stop the canary's or A/B's color.

    A controller still running is interrupted (it restores the stable color itself, as on
    Ctrl-C); one that died left the split behind, which is undone here.
    """
    state = StackState.load(state_dir)
    split, stable = state.split, state.colors.get(state.active)
    if split is None or split.phase != "running" or stable is None:
        raise StackError("no canary or A/B test runs in this stack")
    pid = split.controller_pid
    if pid != os.getpid() and process_alive(pid, "mlvajra"):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + wait
        while process_alive(pid, "mlvajra") and time.monotonic() < deadline:
            time.sleep(0.1)
        state = StackState.load(state_dir)
        if state.split is not None and state.split.phase != "running":
            say(f"aborted: every client on {stable.color} ({describe(stable.release())})")
            return
    new = state.colors.get(split.color)
    backend = state.backend_for(state_dir)
    backend.point_edge_at(stable)
    if new is not None:
        say(f"{split.color}: {backend.stop_color(new)}")
        record = ReleaseRecord.now(split.kind, split.color, new.release(), "refused", "aborted")
        state.record(record)
    state.colors[split.color] = None
    split.weight, split.phase = 0, "rolled back"
    state.save(state_dir)
    say(f"aborted: every client on {stable.color} ({describe(stable.release())})")
