"""The canary's decisions on scripted /metrics (topology: tests/topology/test_canary.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlvajra.cli import cli
from mlvajra.errors import StackError
from mlvajra.stack import canary, state, switch
from mlvajra.stack.analysis import Thresholds
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import ColorState
from mlvajra.stack.switch import release_of
from tests.stack.fakes import PassingBackend, manifest_folder


class MetricsBackend(PassingBackend):
    """Colors whose /metrics grow by `per_scrape[color]` answers (status -> count) each scrape."""

    def __init__(self, per_scrape: dict[str, dict[str, int]]) -> None:
        super().__init__()
        self.per_scrape = per_scrape
        self.totals: dict[str, dict[str, int]] = {}

    def color_request(
        self, state: ColorState, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        if path != "/metrics":
            return super().color_request(state, method, path, body)
        totals = self.totals.setdefault(state.color, {})
        for status, count in self.per_scrape.get(state.color, {}).items():
            totals[status] = totals.get(status, 0) + count
        lines = [
            f'mlvajra_requests_total{{endpoint="/predict",status="{status}"}} {count}'
            for status, count in totals.items()
        ]
        return 200, "\n".join([*lines, ""]).encode()

    def point_edge_at(self, state: ColorState) -> None:
        super().point_edge_at(state)
        for color in self.per_scrape:  # every client on `state`: the others answer no more
            if color != state.color:
                self.per_scrape[color] = {}


@pytest.fixture
def stack_dir(
    artifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A saved stack serving penguins 1 on blue, and a penguins 2 folder to canary."""
    blue = ColorState.of("blue", release_of(artifact_dir)[0], port=2)
    options = EdgeOptions(body_limit=1 << 20)
    state.StackState(backend="local", options=options, colors={"blue": blue}).save(tmp_path)
    monkeypatch.setattr(canary, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(canary, "QUIET_SECONDS", 0.01)
    return tmp_path, manifest_folder(artifact_dir, tmp_path / "penguins-2", version="2")


def _use(backend: PassingBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state.StackState, "backend_for", lambda self, state_dir: backend)


def test_a_healthy_canary_takes_each_step_then_is_switched_to(
    stack_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, model_dir = stack_dir
    backend = MetricsBackend({"green": {"200": 150}, "blue": {"200": 900}})
    _use(backend, monkeypatch)

    promoted = canary.canary(state_dir, model_dir, [10, 50], 0.01, Thresholds(), 5, print)

    assert promoted
    assert backend.calls == [
        "start green", "split green 2", "split green 10", "point green", "stop blue"
    ]  # fmt: skip
    saved = state.StackState.load(state_dir)
    assert saved.active == "green"
    assert saved.colors["blue"] is None
    assert saved.split is not None
    assert (saved.split.phase, saved.split.weight) == ("promoted", 100)
    assert [item.verdict for item in saved.split.analyses] == ["passed", "passed"]
    assert saved.split.analyses[0].canary_share == pytest.approx(150 / 1050, abs=1e-4)
    assert [(item.action, item.outcome) for item in saved.releases] == [("canary", "switched")]


def test_a_failing_canary_is_rolled_back_to_every_client_on_stable(
    stack_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, model_dir = stack_dir
    backend = MetricsBackend({"green": {"200": 95, "500": 5}, "blue": {"200": 900}})
    _use(backend, monkeypatch)

    with pytest.raises(StackError, match=r"^rolled back: canary failed at 10 %: success rate 95"):
        canary.canary(state_dir, model_dir, [10, 50], 0.01, Thresholds(), 5, print)

    assert backend.calls == ["start green", "split green 2", "point blue", "stop green"]
    saved = state.StackState.load(state_dir)
    assert saved.active == "blue"
    assert saved.colors["green"] is None
    assert saved.split is not None
    assert (saved.split.phase, saved.split.weight) == ("rolled back", 0)
    # Scrapes at the start, before and after the interval (+100 each), then no more traffic.
    assert (saved.split.served, saved.split.served_5xx) == (200, 10)
    record = saved.releases[-1]
    assert (record.action, record.outcome) == ("canary", "refused")
    assert "success rate 95.00% below 99%" in (record.reason or "")


def test_failure_limit_holds_the_weight_and_no_traffic_is_no_verdict(
    stack_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, model_dir = stack_dir
    backend = MetricsBackend({"green": {"200": 95, "500": 5}, "blue": {"200": 900}})
    _use(backend, monkeypatch)
    tolerant = Thresholds(failure_limit=1)
    with pytest.raises(StackError, match="canary failed at 10 %"):
        canary.canary(state_dir, model_dir, [10, 50], 0.01, tolerant, 5, print)
    saved = state.StackState.load(state_dir).split
    assert saved is not None
    assert [item.verdict for item in saved.analyses] == ["failed", "failed"], "held at 10 %"

    quiet = MetricsBackend({"green": {"200": 10}, "blue": {"200": 900}})
    _use(quiet, monkeypatch)
    with pytest.raises(StackError, match="no verdict at 10 % after 3 intervals: 10 canary"):
        canary.canary(state_dir, model_dir, [10, 50], 0.01, Thresholds(), 5, print)
    assert quiet.calls[-2:] == ["point blue", "stop green"]


def test_nothing_else_moves_traffic_while_a_canary_runs(
    stack_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, model_dir = stack_dir
    saved = state.StackState.load(state_dir)
    saved.split = state.SplitState(kind="canary", color="green", weight=25, controller_pid=1)
    saved.save(state_dir)
    _use(PassingBackend(), monkeypatch)
    with pytest.raises(StackError, match=r"a canary on green runs \(pid 1, weight 25 %\)"):
        switch.switch(state_dir, model_dir, 5)
    with pytest.raises(StackError, match="a canary on green runs"):
        canary.canary(state_dir, model_dir, [10], 0.01, Thresholds(), 5, print)


@pytest.mark.parametrize(
    ("text", "message"),
    [("10,5", "--steps '10,5'"), ("3", "in steps of 5"), ("100", "below 100"), ("a", "e.g.")],
)
def test_steps_must_be_increasing_multiples_of_a_slot(text: str, message: str) -> None:
    with pytest.raises(StackError, match=message.replace("(", r"\(")):
        canary.parse_weights(text, "--steps")
    assert canary.parse_weights("5,10,25,50", "--steps") == [5, 10, 25, 50]


def test_durations_read_like_the_flags_say() -> None:
    assert [canary.parse_duration(text, "--interval") for text in ("60s", "1m", "500ms", "2")] == [
        60.0, 60.0, 0.5, 2.0
    ]  # fmt: skip
    with pytest.raises(StackError, match="--interval 'soon': give a duration"):
        canary.parse_duration("soon", "--interval")
    assert json.loads(json.dumps(Thresholds().model_dump()))["min_success"] == 0.99


def test_abort_puts_every_slot_back_on_stable_and_records_it(
    stack_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, model_dir = stack_dir
    saved = state.StackState.load(state_dir)
    saved.colors["green"] = ColorState.of("green", release_of(model_dir)[0], port=3)
    # The controller died (its pid is this process's): the split it left behind is undone here.
    saved.split = state.SplitState(
        kind="canary", color="green", weight=25, controller_pid=os.getpid()
    )
    saved.save(state_dir)
    backend = PassingBackend()
    _use(backend, monkeypatch)

    result = CliRunner().invoke(cli, ["stack", "canary", "--abort", "--state-dir", str(state_dir)])

    assert result.exit_code == 0, result.output
    assert "aborted: every client on blue" in result.output
    assert backend.calls == ["point blue", "stop green"]
    after = state.StackState.load(state_dir)
    assert after.active == "blue"
    assert after.colors["green"] is None
    assert after.split is not None
    assert (after.split.phase, after.split.weight) == ("rolled back", 0)
    record = after.releases[-1]
    assert (record.action, record.color, record.outcome, record.reason) == (
        "canary", "green", "refused", "aborted"
    )  # fmt: skip
    again = CliRunner().invoke(cli, ["stack", "canary", "--abort", "--state-dir", str(state_dir)])
    assert again.exit_code == 1
    assert "no canary or A/B test runs" in again.output
