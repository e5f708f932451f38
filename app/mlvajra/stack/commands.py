"""`mlvajra stack`: nginx in front of a blue and a green color; switch and roll back safely."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlvajra.config import load_settings
from mlvajra.errors import StackError
from mlvajra.stack.canary_commands import ab_command, canary_command, compare_command
from mlvajra.stack.history import ReleaseRecord, describe, history_table, live_releases
from mlvajra.stack.nginx import CONN_PER_CLIENT, CONTROL_PORT, EdgeOptions, check_rate
from mlvajra.stack.platform import Backend, ColorState, free_port
from mlvajra.stack.runtime import prepare_runtime, remove_runtime
from mlvajra.stack.state import STATE_FILE, StackState
from mlvajra.stack.switch import confirm_through_edge, gate, release_of, switch

stack_cli = typer.Typer(
    help="nginx + blue/green colors of the service: up, switch, canary, ab, compare, rollback, "
    "history, status, down.",
    no_args_is_help=True,
)
stack_cli.command(name="canary")(canary_command)
stack_cli.command(name="ab")(ab_command)
stack_cli.command(name="compare")(compare_command)


class BackendKind(enum.StrEnum):
    """Where the colors and nginx run."""

    local = "local"
    compose = "compose"


StateDirOption = Annotated[
    Path,
    typer.Option(envvar="MLVAJRA_STACK_DIR", help="Where the stack keeps its config and state."),
]
ReadyTimeoutOption = Annotated[
    float, typer.Option(help="Seconds the new color gets to answer /ready.")
]


@stack_cli.command()
def up(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder for blue.")],
    port: Annotated[int, typer.Option(help="Port nginx listens on.")] = 8080,
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    backend: Annotated[
        BackendKind, typer.Option(help="local (processes) or compose (docker compose).")
    ] = BackendKind.local,
    workers: Annotated[
        int | None, typer.Option(help="gunicorn workers per color; default: one per CPU.")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Opt in to a per-address rate limit, e.g. 1000r/s; default: none."),
    ] = None,
    burst: Annotated[
        int, typer.Option(help="With --rate: requests a client may send above it.")
    ] = 200,
    conn_per_client: Annotated[
        int,
        typer.Option(
            min=1,
            help="Requests one client address may have in progress at once (429 above); "
            "keep it far above what one application backend sends at once.",
        ),
    ] = CONN_PER_CLIENT,
    proxy_timeout: Annotated[str, typer.Option(help="nginx read timeout to a color.")] = "10s",
    docs: Annotated[
        bool, typer.Option(help="Serve /docs and /openapi.json through nginx; off by default.")
    ] = False,
    models_root: Annotated[
        Path, typer.Option(help="compose: the folder mounted read-only at /models.")
    ] = Path("models"),
    project_dir: Annotated[
        Path, typer.Option(help="compose: the folder holding docker-compose.yml.")
    ] = Path("."),
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Start nginx and the blue color serving MODEL_DIR; print where it answers."""
    # Absolute: nginx would resolve relative paths in its config against its prefix.
    state_dir = state_dir.resolve()
    history = _refuse_running_stack(state_dir)
    release, manifest = release_of(model_dir)
    options = EdgeOptions(
        port=port,
        # Local: a free loopback port; compose: inside the nginx container, published nowhere.
        control_port=free_port() if backend == BackendKind.local else CONTROL_PORT,
        rate=check_rate(rate),
        burst=burst,
        conn_per_client=conn_per_client,
        proxy_timeout=proxy_timeout,
        docs=docs,
        body_limit=load_settings().body_limit_for(manifest.inputs),
    )
    state = StackState(
        # As root, a runtime folder for the unprivileged workers (before anything starts).
        runtime=prepare_runtime() if backend == BackendKind.local else None,
        releases=history,
        backend=backend.value,
        options=options,
        workers=workers,
        models_root=str(models_root.resolve()),
        project_dir=str(project_dir.resolve()),
    )
    runner = state.backend_for(state_dir)  # a compose stack without a compose file stops here
    state_dir.mkdir(parents=True, exist_ok=True)
    blue: ColorState | None = None
    try:
        blue = runner.start_color("blue", release)
        gate(runner, blue, release, manifest, ready_timeout)
        runner.start_edge(blue)
        confirm_through_edge(runner, release)
    except BaseException:
        # Any failure, not only a StackError: no state is saved yet, so `stack down` could not
        # find the color or nginx this command started.
        if blue is not None:
            runner.stop_color(blue)
        runner.stop_edge()
        remove_runtime(state.runtime)
        raise
    state.colors = {"blue": blue, "green": None}
    state.record(ReleaseRecord.now("up", "blue", release, "up"))
    state.save(state_dir)
    typer.echo(
        f"mlvajra stack up: http://127.0.0.1:{port} -> blue "
        f"({manifest.name} {release.version}, port {blue.port}); state in {state_dir}"
    )


AllowSchemaOption = Annotated[
    bool,
    typer.Option(help="Switch even if current clients' records or responses would break."),
]


@stack_cli.command(name="switch")
def switch_command(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder to switch to.")],
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
    allow_schema_change: AllowSchemaOption = False,
) -> None:
    """Blue/green: serve MODEL_DIR on the idle color, then move traffic to it; refuse if unsafe."""
    switch(
        state_dir.resolve(),
        model_dir,
        ready_timeout,
        typer.echo,
        allow_schema_change=allow_schema_change,
    )


@stack_cli.command()
def rollback(
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
    allow_schema_change: AllowSchemaOption = False,
) -> None:
    """Switch back to the release before the serving one in the history, with the same gates.

    Each rollback steps one release further back; past the first release since `stack up` it
    refuses.
    """
    state_dir = state_dir.resolve()
    live = live_releases(StackState.load(state_dir).releases)
    if not live:
        raise StackError("nothing to roll back to: no release history in this stack")
    if len(live) == 1:
        first = describe(live[0].release)
        raise StackError(f"nothing to roll back to: {first} is the first release since stack up")
    target = live[-2].release
    switch(
        state_dir,
        Path(target.model_dir),
        ready_timeout,
        typer.echo,
        allow_schema_change=allow_schema_change,
        rollback_to=target,
    )


@stack_cli.command()
def history(
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    as_json: Annotated[bool, typer.Option("--json", help="JSON, full sha256.")] = False,
) -> None:
    """Every up, switch and rollback of this stack, oldest first; * marks what serves now."""
    releases = StackState.load(state_dir.resolve()).releases
    if as_json:
        typer.echo(json.dumps([record.model_dump() for record in releases], indent=2))
    else:
        typer.echo(history_table(releases))


@stack_cli.command()
def status(state_dir: StateDirOption = Path(".mlvajra/stack")) -> None:
    """Active color, what each color serves, the weights, the last analysis, what nginx answers."""
    state, backend = _load(state_dir)
    live = live_releases(state.releases)
    colors: dict[str, Any] = {}
    for name, color in state.colors.items():
        running = color is not None and backend.color_running(color)
        colors[name] = {**color.model_dump(), "running": running} if color else None
    code, body = backend.edge_request("GET", "/version")
    edge: Any = json.loads(body) if code == 200 else {"status": code, "body": body.decode()[:200]}
    report = {
        "url": f"http://127.0.0.1:{state.options.port}",
        "backend": state.backend,
        "active": state.active,
        "previous_model_dir": live[-2].release.model_dir if len(live) > 1 else None,
        "colors": colors,
        **_split_report(state),
        "nginx_serves": {key: edge.get(key) for key in ("version", "sha256", "status")},
    }
    typer.echo(json.dumps(report, indent=2))


@stack_cli.command()
def down(state_dir: StateDirOption = Path(".mlvajra/stack")) -> None:
    """Stop nginx, then every color (gracefully). Leaves the state dir for inspection."""
    state_dir = state_dir.resolve()
    state, backend = _load(state_dir)
    backend.stop_edge()
    for name, color in state.colors.items():
        if color is not None:
            typer.echo(f"{name}: {backend.stop_color(color)}")
            state.colors[name] = None
    remove_runtime(state.runtime)
    state.save(state_dir)


def _split_report(state: StackState) -> dict[str, Any]:
    """Each color's share of clients, and the running or last canary or A/B test."""
    split = state.split
    weights = {state.active: 100}
    if split is not None and split.phase == "running":
        weights = {state.active: 100 - split.weight, split.color: split.weight}
    last = None
    if split is not None:
        last = {
            **split.model_dump(exclude={"analyses"}),
            "last_analysis": split.analyses[-1].model_dump() if split.analyses else None,
        }
    return {"weights": weights, "split": last}


def _refuse_running_stack(state_dir: Path) -> list[ReleaseRecord]:
    """Refuse a state dir whose colors still run; else its release history, to keep."""
    if not (state_dir / STATE_FILE).exists():
        return []
    state, backend = _load(state_dir)
    if any(color is not None and backend.color_running(color) for color in state.colors.values()):
        raise StackError(f"a stack already runs in {state_dir}: `mlvajra stack down` first")
    return state.releases


def _load(state_dir: Path) -> tuple[StackState, Backend]:
    """The saved stack and its backend."""
    state_dir = state_dir.resolve()
    state = StackState.load(state_dir)
    return state, state.backend_for(state_dir)
