"""`mlvajra stack`: nginx in front of a blue and a green color; switch and roll back safely."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.artifact import ArtifactError, Manifest, read_manifest
from app.backends import Backend, ColorState, ComposeBackend, LocalBackend, StackError
from app.config import Settings
from app.edge import EdgeOptions, write_atomically
from app.schemas import neutral_record

COLORS = ("blue", "green")
STATE_FILE = "state.json"
CONFIRM_SECONDS = 5.0
"""How long the new version gets to answer /version through nginx after the symlink moved."""

stack_cli = typer.Typer(
    help="nginx + blue/green colors of the service: up, switch, rollback, status, down.",
    no_args_is_help=True,
)

StateDirOption = Annotated[
    Path,
    typer.Option(envvar="MLVAJRA_STACK_DIR", help="Where the stack keeps its config and state."),
]
ReadyTimeoutOption = Annotated[
    float, typer.Option(help="Seconds the new color gets to answer /ready.")
]


@dataclass
class StackState:
    """What `stack up` started and every later command reads back (state.json)."""

    backend: Literal["local", "compose"]
    options: EdgeOptions
    workers: int | None = None
    models_root: str = "models"
    active: str = "blue"
    colors: dict[str, ColorState | None] = field(default_factory=dict)
    previous_model_dir: str | None = None

    def save(self, state_dir: Path) -> None:
        """Write state.json atomically."""
        body = asdict(self)
        write_atomically(state_dir / STATE_FILE, json.dumps(body, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> StackState:
        """Read state.json or say that no stack was started there."""
        try:
            raw = json.loads((state_dir / STATE_FILE).read_text())
        except OSError:
            raise StackError(f"no stack in {state_dir}: run `mlvajra stack up` first") from None
        colors = {
            name: ColorState(**value) if value else None for name, value in raw["colors"].items()
        }
        return cls(
            backend=raw["backend"],
            options=EdgeOptions(**raw["options"]),
            workers=raw["workers"],
            models_root=raw["models_root"],
            active=raw["active"],
            colors=colors,
            previous_model_dir=raw["previous_model_dir"],
        )

    def backend_for(self, state_dir: Path) -> Backend:
        """The backend this stack was started with."""
        if self.backend == "compose":
            return ComposeBackend(state_dir, self.options, Path(self.models_root))
        return LocalBackend(state_dir, self.options, self.workers)


@dataclass(frozen=True)
class Identity:
    """The artifact a color must prove it serves: /version's version and sha256."""

    model_dir: Path
    manifest: Manifest
    version: str
    sha256: str


def identity_of(model_dir: Path) -> Identity:
    """Read the manifest; the format is MLVAJRA_MODEL_FORMAT's or the manifest's."""
    model_dir = model_dir.resolve()
    try:
        manifest = read_manifest(model_dir)
        model_format = Settings(model_dir=model_dir).model_format or manifest.format
        sha256 = manifest.sha256(model_format)
    except (ArtifactError, KeyError) as error:
        raise StackError(f"cannot switch to {model_dir}: {error}") from None
    return Identity(model_dir, manifest, manifest.version, sha256)


def _serves(body: bytes, identity: Identity) -> bool:
    try:
        version = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(version, dict)
        and version.get("version") == identity.version
        and version.get("sha256") == identity.sha256
    )


def _gate(backend: Backend, color: ColorState, identity: Identity, ready_timeout: float) -> None:
    """/ready within the timeout, /version names the artifact, one prediction answers 200."""
    deadline = time.monotonic() + ready_timeout
    while True:
        if not backend.color_running(color):
            raise StackError(f"{color.color} exited before it was ready (log: {color.log})")
        if backend.color_request(color, "GET", "/ready")[0] == 200:
            break
        if time.monotonic() > deadline:
            raise StackError(
                f"{color.color} not ready within {ready_timeout:g} s (log: {color.log})"
            )
        time.sleep(0.1)
    status, body = backend.color_request(color, "GET", "/version")
    if status != 200 or not _serves(body, identity):
        raise StackError(
            f"{color.color} serves {body[:200]!r}, expected version {identity.version} "
            f"sha256 {identity.sha256}"
        )
    request = json.dumps({"instances": [neutral_record(identity.manifest.inputs)]}).encode()
    status, body = backend.color_request(color, "POST", "/predict", request)
    try:
        answered = len(json.loads(body).get("predictions", []))
    except (ValueError, AttributeError):
        answered = 0
    if status != 200 or answered != 1:
        raise StackError(f"{color.color} smoke prediction failed: {status} {body[:200]!r}")


def _confirm_through_edge(backend: Backend, identity: Identity) -> None:
    """Poll /version through nginx (a new upstream connection each time) for the new artifact."""
    deadline = time.monotonic() + CONFIRM_SECONDS
    while time.monotonic() < deadline:
        status, body = backend.edge_request("GET", "/version")
        if status == 200 and _serves(body, identity):
            return
        time.sleep(0.05)
    raise StackError(
        f"nginx does not serve version {identity.version} within {CONFIRM_SECONDS:g} s"
    )


def _say(message: str) -> None:
    typer.echo(message)


def switch(state_dir: Path, model_dir: Path, ready_timeout: float) -> str:
    """Start the idle color on `model_dir`, gate it, point nginx at it, drain the old one.

    nginx is not reloaded: the symlink it connects through moves, new connections reach the new
    color, and the old one drains (answering `Connection: close`) before it stops.
    """
    state = StackState.load(state_dir)
    backend = state.backend_for(state_dir)
    identity = identity_of(model_dir)
    old = state.colors.get(state.active)
    if old is None:
        raise StackError("no active color: run `mlvajra stack up` first")
    idle = next(color for color in COLORS if color != state.active)
    leftover = state.colors.get(idle)
    if leftover is not None and backend.color_running(leftover):
        _say(f"stopping a leftover {idle}: {backend.stop_color(leftover)}")
    started = time.monotonic()
    new = backend.start_color(idle, identity.model_dir, identity.version, identity.sha256)
    pointed = False
    try:
        _gate(backend, new, identity, ready_timeout)
        _say(f"{idle} ready and verified in {time.monotonic() - started:.1f} s (port {new.port})")
        switched_at = time.monotonic()
        backend.point_edge_at(new)
        pointed = True
        _confirm_through_edge(backend, identity)
    except StackError as error:
        if pointed:
            backend.point_edge_at(old)
        backend.stop_color(new)
        raise StackError(f"refused: {error}; traffic stays on {old.color}") from None
    took = time.monotonic() - switched_at
    _say(f"nginx serves {idle} (version {identity.version}) {took:.2f} s after the symlink moved")
    state.previous_model_dir = old.model_dir
    state.active = idle
    state.colors[idle] = new
    state.save(state_dir)
    drained_at = time.monotonic()
    outcome = backend.stop_color(old)
    state.colors[old.color] = None
    state.save(state_dir)
    _say(f"{old.color} drained and stopped in {time.monotonic() - drained_at:.1f} s: {outcome}")
    if outcome != "exited cleanly":
        raise StackError(f"switched to {idle}, but {old.color} {outcome}")
    return idle


@stack_cli.command()
def up(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder for blue.")],
    port: Annotated[int, typer.Option(help="Port nginx listens on.")] = 8080,
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    backend: Annotated[str, typer.Option(help="local (processes) or compose.")] = "local",
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
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Start nginx and the blue color serving MODEL_DIR; print where it answers."""
    # Absolute: nginx would resolve relative paths in its config against its prefix.
    state_dir = state_dir.resolve()
    if backend not in ("local", "compose"):
        raise _fail("--backend must be local or compose")
    try:
        _refuse_running_stack(state_dir)
        identity = identity_of(model_dir)
        body_limit = Settings(model_dir=identity.model_dir).body_limit
        options = EdgeOptions(
            port=port,
            rate=rate,
            burst=burst,
            proxy_timeout=proxy_timeout,
            docs=docs,
            body_limit=body_limit,
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        kind: Literal["local", "compose"] = "compose" if backend == "compose" else "local"
        state = StackState(kind, options, workers, str(models_root.resolve()))
        runner = state.backend_for(state_dir)
        blue = runner.start_color("blue", identity.model_dir, identity.version, identity.sha256)
        try:
            _gate(runner, blue, identity, ready_timeout)
            runner.start_edge(blue)
            _confirm_through_edge(runner, identity)
        except StackError:
            runner.stop_color(blue)
            runner.stop_edge()
            raise
        state.colors = {"blue": blue, "green": None}
        state.save(state_dir)
    except StackError as error:
        raise _fail(str(error)) from None
    _say(
        f"mlvajra stack up: http://127.0.0.1:{port} -> blue "
        f"({identity.manifest.name} {identity.version}, port {blue.port}); state in {state_dir}"
    )


@stack_cli.command(name="switch")
def switch_command(
    model_dir: Annotated[Path, typer.Option(help="Artifact version folder to switch to.")],
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Blue/green: serve MODEL_DIR on the idle color, then move traffic to it; refuse if unsafe."""
    try:
        switch(state_dir.resolve(), model_dir, ready_timeout)
    except StackError as error:
        raise _fail(str(error)) from None


@stack_cli.command()
def rollback(
    state_dir: StateDirOption = Path(".mlvajra/stack"),
    ready_timeout: ReadyTimeoutOption = 60.0,
) -> None:
    """Switch back to the artifact served before the last switch, with the same gates."""
    try:
        previous = StackState.load(state_dir).previous_model_dir
        if previous is None:
            raise StackError("nothing to roll back to: no switch happened yet")
        switch(state_dir.resolve(), Path(previous), ready_timeout)
    except StackError as error:
        raise _fail(str(error)) from None


@stack_cli.command()
def status(state_dir: StateDirOption = Path(".mlvajra/stack")) -> None:
    """Active color, what each color serves, and what nginx answers (JSON)."""
    state, backend = _load(state_dir)
    colors: dict[str, Any] = {}
    for name, color in state.colors.items():
        running = color is not None and backend.color_running(color)
        colors[name] = {**color.as_dict(), "running": running} if color else None
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
            _say(f"{name}: {backend.stop_color(color)}")
            state.colors[name] = None
    state.save(state_dir)


def _refuse_running_stack(state_dir: Path) -> None:
    if not (state_dir / STATE_FILE).exists():
        return
    state = StackState.load(state_dir)
    backend = state.backend_for(state_dir)
    if any(color is not None and backend.color_running(color) for color in state.colors.values()):
        raise StackError(f"a stack already runs in {state_dir}: `mlvajra stack down` first")


def _load(state_dir: Path) -> tuple[StackState, Backend]:
    """The saved stack and its backend, or a one-line failure."""
    state_dir = state_dir.resolve()
    try:
        state = StackState.load(state_dir)
    except StackError as error:
        raise _fail(str(error)) from None
    return state, state.backend_for(state_dir)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)
