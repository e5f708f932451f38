"""`mlvajra stack`: nginx in front of a blue and a green color; switch and roll back safely."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlvajra.config import load_settings
from mlvajra.errors import StackError
from mlvajra.stack.nginx import EdgeOptions
from mlvajra.stack.platform import Backend
from mlvajra.stack.state import STATE_FILE, StackState
from mlvajra.stack.switch import confirm_through_edge, gate, release_of, switch

stack_cli = typer.Typer(
    help="nginx + blue/green colors of the service: up, switch, rollback, status, down.",
    no_args_is_help=True,
)


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
    rate: Annotated[str, typer.Option(help="Requests per client address, e.g. 100r/s.")] = "100r/s",
    burst: Annotated[int, typer.Option(help="Requests a client may send above the rate.")] = 200,
    proxy_timeout: Annotated[str, typer.Option(help="nginx read timeout to a color.")] = "10s",
    docs: Annotated[bool, typer.Option(help="Serve /docs and /openapi.json through nginx.")] = True,
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
    _refuse_running_stack(state_dir)
    release, manifest = release_of(model_dir)
    options = EdgeOptions(
        port=port,
        rate=rate,
        burst=burst,
        proxy_timeout=proxy_timeout,
        docs=docs,
        body_limit=load_settings().body_limit_for(manifest.inputs),
    )
    state = StackState(
        backend=backend.value,
        options=options,
        workers=workers,
        models_root=str(models_root.resolve()),
        project_dir=str(project_dir.resolve()),
    )
    runner = state.backend_for(state_dir)  # a compose stack without a compose file stops here
    state_dir.mkdir(parents=True, exist_ok=True)
    blue = runner.start_color("blue", release)
    try:
        gate(runner, blue, release, manifest, ready_timeout)
        runner.start_edge(blue)
        confirm_through_edge(runner, release)
    except BaseException:
        # Any failure, not only a StackError: no state is saved yet, so `stack down` could not
        # find the color or nginx this command started.
        runner.stop_color(blue)
        runner.stop_edge()
        raise
    state.colors = {"blue": blue, "green": None}
    state.save(state_dir)
    typer.echo(
        f"mlvajra stack up: http://127.0.0.1:{port} -> blue "
        f"({manifest.name} {release.version}, port {blue.port}); state in {state_dir}"
    )


@stack_cli.command(name="switch")
def switch_command(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder to switch to.")],
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Blue/green: serve MODEL_DIR on the idle color, then move traffic to it; refuse if unsafe."""
    switch(state_dir.resolve(), model_dir, ready_timeout, typer.echo)


@stack_cli.command()
def rollback(
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Switch back to the artifact served before the last switch, with the same gates."""
    previous = StackState.load(state_dir.resolve()).previous_model_dir
    if previous is None:
        raise StackError("nothing to roll back to: no switch happened yet")
    switch(state_dir.resolve(), Path(previous), ready_timeout, typer.echo)


@stack_cli.command()
def status(state_dir: StateDirOption = Path(".mlvajra/stack")) -> None:
    """Active color, what each color serves, and what nginx answers (JSON)."""
    state, backend = _load(state_dir)
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
        "previous_model_dir": state.previous_model_dir,
        "colors": colors,
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
    state.save(state_dir)


def _refuse_running_stack(state_dir: Path) -> None:
    if not (state_dir / STATE_FILE).exists():
        return
    state, backend = _load(state_dir)
    if any(color is not None and backend.color_running(color) for color in state.colors.values()):
        raise StackError(f"a stack already runs in {state_dir}: `mlvajra stack down` first")


def _load(state_dir: Path) -> tuple[StackState, Backend]:
    """The saved stack and its backend."""
    state_dir = state_dir.resolve()
    state = StackState.load(state_dir)
    return state, state.backend_for(state_dir)
