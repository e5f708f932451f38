"""`mlvajra stack canary`, `ab` and `compare` (registered on the stack CLI by commands.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlvajra.errors import StackError
from mlvajra.stack.analysis import Thresholds
from mlvajra.stack.canary import ab_test, abort, canary, parse_duration, parse_weights
from mlvajra.stack.compare import ColorReport, compare_table, report
from mlvajra.stack.platform import Backend, ColorState
from mlvajra.stack.state import StackState

_DEFAULTS = Thresholds()
StateDir = Annotated[
    Path,
    typer.Option(envvar="MLVAJRA_STACK_DIR", help="Where the stack keeps its config and state."),
]
ModelDir = Annotated[Path | None, typer.Option(help="Artifact version folder of the new release.")]
ReadyTimeout = Annotated[float, typer.Option(help="Seconds the new color gets to answer /ready.")]
AllowSchema = Annotated[
    bool, typer.Option(help="Go ahead even if current clients' records or responses would break.")
]


def canary_command(
    model_dir: ModelDir = None,
    steps: Annotated[
        str, typer.Option(help="Canary weights in %, in steps of 5; then the switch (100 %).")
    ] = "5,10,25,50",
    interval: Annotated[str, typer.Option(help="How long each weight is analysed.")] = "60s",
    min_requests: Annotated[
        int, typer.Option(min=0, help="Canary requests an interval needs to be judged.")
    ] = _DEFAULTS.min_requests,
    min_success: Annotated[
        float, typer.Option(min=0, max=1, help="Least share of canary answers that are not 5xx.")
    ] = _DEFAULTS.min_success,
    max_extra_invalid: Annotated[
        float, typer.Option(min=0, max=1, help="How far the canary's 422 share may pass stable's.")
    ] = _DEFAULTS.max_extra_invalid,
    max_p99: Annotated[
        str, typer.Option(help="Longest canary p99 latency.")
    ] = f"{_DEFAULTS.max_p99_seconds * 1000:g}ms",
    max_prediction_psi: Annotated[
        float, typer.Option(min=0, help="Largest PSI of canary's predicted labels vs stable's.")
    ] = _DEFAULTS.max_prediction_psi,
    min_predictions: Annotated[
        int, typer.Option(min=0, help="Predictions per color before their PSI is judged.")
    ] = _DEFAULTS.min_predictions,
    failure_limit: Annotated[
        int, typer.Option(min=0, help="Failed intervals tolerated before the rollback.")
    ] = _DEFAULTS.failure_limit,
    inconclusive_limit: Annotated[
        int, typer.Option(min=1, help="Intervals in a row without enough traffic: rollback.")
    ] = _DEFAULTS.inconclusive_limit,
    abort_running: Annotated[
        bool, typer.Option("--abort", help="Put every client back on the stable color now.")
    ] = False,
    state_dir: StateDir = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeout = 60.0,
    allow_schema_change: AllowSchema = False,
) -> None:
    """Canary: MODEL_DIR takes a growing share of clients, judged from both colors' /metrics.

    A failed check rolls every client back to the stable color; after the last step the
    release is switched to (100 %) with the switch's gates and history.
    """
    state_dir = state_dir.resolve()
    if abort_running:
        abort(state_dir, typer.echo)
        return
    if model_dir is None:
        raise StackError("--model-dir is required (or --abort)")
    limits = Thresholds(
        min_requests=min_requests,
        min_success=min_success,
        max_extra_invalid=max_extra_invalid,
        max_p99_seconds=parse_duration(max_p99, "--max-p99"),
        max_prediction_psi=max_prediction_psi,
        min_predictions=min_predictions,
        failure_limit=failure_limit,
        inconclusive_limit=inconclusive_limit,
    )
    canary(
        state_dir,
        model_dir,
        parse_weights(steps, "--steps"),
        parse_duration(interval, "--interval"),
        limits,
        ready_timeout,
        typer.echo,
        allow_schema_change=allow_schema_change,
    )


def ab_command(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder of version B.")],
    weight: Annotated[
        str, typer.Option(help="Share of clients sent to B, in steps of 5 %.")
    ] = "50",
    duration: Annotated[str, typer.Option(help="How long the split holds.")] = "1h",
    state_dir: StateDir = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeout = 60.0,
    allow_schema_change: AllowSchema = False,
) -> None:
    """A/B: a fixed, sticky split for DURATION, then every client back on A; never promotes.

    Prints `stack compare` before B stops; promote B with `stack switch` if it won.
    """

    def _print(backend: Backend, colors: list[ColorState]) -> None:
        roles = ("A", "B")
        typer.echo(
            compare_table([report(backend, c, r) for c, r in zip(colors, roles, strict=True)])
        )

    ab_test(
        state_dir.resolve(),
        model_dir,
        parse_weights(weight, "--weight")[0],
        parse_duration(duration, "--duration"),
        ready_timeout,
        typer.echo,
        allow_schema_change=allow_schema_change,
        report=_print,
    )


def compare_command(
    state_dir: StateDir = Path(".mlvajra/stack"),
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Both running colors side by side: requests, 5xx and 422 shares, p99, live metric."""
    state_dir = state_dir.resolve()
    state = StackState.load(state_dir)
    backend = state.backend_for(state_dir)
    reports: list[ColorReport] = []
    for name, color in state.colors.items():
        if color is None or not backend.color_running(color):
            continue
        reports.append(report(backend, color, _role(state, name)))
    if not reports:
        raise StackError("no color runs in this stack")
    if as_json:
        typer.echo(json.dumps([item.model_dump() for item in reports], indent=2))
    else:
        typer.echo(compare_table(reports))


def _role(state: StackState, color: str) -> str:
    split = state.split if state.split and state.split.phase == "running" else None
    if color == state.active:
        return "A" if split and split.kind == "ab" else "stable"
    if split and split.color == color:
        return "B" if split.kind == "ab" else "canary"
    return "idle"
