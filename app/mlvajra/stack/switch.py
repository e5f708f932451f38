"""Blue/green: gate the idle color on the new release, move the symlink, confirm, drain the old."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from mlvajra.artifact import Format, Manifest
from mlvajra.config import load_settings
from mlvajra.errors import ArtifactError, StackError
from mlvajra.folder import parse_manifest, read_manifest, read_manifest_bytes
from mlvajra.inputs import neutral_record
from mlvajra.stack.compatibility import schema_breaks
from mlvajra.stack.history import Action, Outcome, ReleaseRecord, describe
from mlvajra.stack.platform import Backend, ColorState, Release
from mlvajra.stack.state import StackState

COLORS = ("blue", "green")
CONFIRM_SECONDS = 5.0
"""How long the new version gets to answer /version through nginx after the symlink moved."""


def release_of(model_dir: Path, model_format: Format | None = None) -> tuple[Release, Manifest]:
    """The release in `model_dir`: `model_format`, else MLVAJRA_MODEL_FORMAT's or the manifest's."""
    model_dir = model_dir.resolve()
    try:
        raw = read_manifest_bytes(model_dir)
        manifest = parse_manifest(model_dir, raw)
        model_format = (
            model_format or load_settings(model_dir=model_dir).model_format or manifest.format
        )
        sha256 = manifest.sha256(model_format)
    except (ArtifactError, KeyError) as error:
        raise StackError(f"cannot switch to {model_dir}: {error}") from None
    release = Release(
        name=manifest.name,
        model_dir=str(model_dir),
        model_format=model_format,
        version=manifest.version,
        sha256=sha256,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
    )
    return release, manifest


def _serves(body: bytes, release: Release) -> bool:
    try:
        version = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(version, dict)
        and version.get("version") == release.version
        and version.get("sha256") == release.sha256
    )


def gate(
    backend: Backend, color: ColorState, release: Release, manifest: Manifest, ready_timeout: float
) -> None:
    """/ready within the timeout, /version names the release, one prediction answers 200."""
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
    if status != 200 or not _serves(body, release):
        raise StackError(
            f"{color.color} serves {body[:200]!r}, expected version {release.version} "
            f"sha256 {release.sha256}"
        )
    request = json.dumps({"instances": [neutral_record(manifest.inputs)]}).encode()
    status, body = backend.color_request(color, "POST", "/predict", request)
    try:
        answered = len(json.loads(body).get("predictions", []))
    except (ValueError, AttributeError):
        answered = 0
    if status != 200 or answered != 1:
        raise StackError(f"{color.color} smoke prediction failed: {status} {body[:200]!r}")


def confirm_through_edge(backend: Backend, release: Release) -> None:
    """Poll /version through nginx (a new upstream connection each time) for the new release.

    On nginx's stack-only listener: a client rate limit or a client flood on the public one
    must not make the stack refuse a good release.
    """
    deadline = time.monotonic() + CONFIRM_SECONDS
    while time.monotonic() < deadline:
        status, body = backend.control_request("/version")
        if status == 200 and _serves(body, release):
            return
        time.sleep(0.05)
    raise StackError(f"nginx does not serve version {release.version} within {CONFIRM_SECONDS:g} s")


def check_schema(old: ColorState, manifest: Manifest, allowed: bool) -> None:
    """Refuse `manifest` if records or responses of what `old` serves would break under it."""
    if allowed:
        return
    try:
        breaks = schema_breaks(read_manifest(Path(old.model_dir)), manifest)
    except ArtifactError as error:
        breaks = [f"cannot read what {old.color} serves to compare: {error}"]
    if breaks:
        raise StackError(
            f"{manifest.name} {manifest.version} would break clients of {describe(old.release())}: "
            f"{'; '.join(breaks)}; pass --allow-schema-change to switch anyway"
        )


def refuse_during_split(state: StackState) -> None:
    """A switch, a rollback or a new split must wait while a canary or A/B test runs."""
    split = state.split
    if split is not None and split.phase == "running":
        raise StackError(
            f"a {split.kind} on {split.color} runs (pid {split.controller_pid}, weight "
            f"{split.weight} %): wait for it, or `mlvajra stack canary --abort`"
        )


def switch(
    state_dir: Path,
    model_dir: Path,
    ready_timeout: float,
    say: Callable[[str], None] = print,
    *,
    allow_schema_change: bool = False,
    rollback_to: Release | None = None,
) -> str:
    """Start the idle color on `model_dir`, gate it, point nginx at it, drain the old one.

    nginx is not reloaded: the symlinks it connects through move, new connections reach the new
    color, and the old one drains (answering `Connection: close`) before it stops. Every attempt
    goes into the release history, refused ones too; `rollback_to` is the recorded release a
    rollback returns to (the folder must still hold the same bytes).
    """
    state = StackState.load(state_dir)
    refuse_during_split(state)
    backend = state.backend_for(state_dir)
    release, manifest = release_of(model_dir, rollback_to.model_format if rollback_to else None)
    old = state.colors.get(state.active)
    if old is None:
        raise StackError("no active color: run `mlvajra stack up` first")
    idle = next(color for color in COLORS if color != state.active)
    action: Action = "rollback" if rollback_to else "switch"
    say(f"from {old.color}: {describe(old.release())}")
    say(f"to {idle}: {describe(release)}")
    try:
        if rollback_to is not None and release.sha256 != rollback_to.sha256:
            raise StackError(
                f"{model_dir} no longer holds {describe(rollback_to)}: its sha256 is now "
                f"{release.sha256}"
            )
        recorded = rollback_to.manifest_sha256 if rollback_to is not None else ""
        if rollback_to is not None and recorded and release.manifest_sha256 != recorded:
            raise StackError(
                f"{model_dir} no longer holds {describe(rollback_to)}: its manifest's sha256 is "
                f"now {release.manifest_sha256}, recorded {recorded}"
            )
        check_schema(old, manifest, allow_schema_change)
        new = start_gated(state, backend, idle, release, manifest, ready_timeout, say)
        try:
            point_and_confirm(backend, old, new, release, say)
        except BaseException:
            backend.stop_color(new)
            raise
    except BaseException as error:
        record_refusal(state_dir, state, action, idle, release, error)
        raise StackError(f"refused: {error}; traffic stays on {old.color}") from None
    moved: Outcome = "rolled back" if rollback_to else "switched"
    finish(state_dir, state, backend, ReleaseRecord.now(action, idle, release, moved), new, say)
    return idle


def record_refusal(
    state_dir: Path,
    state: StackState,
    action: Action,
    color: str,
    release: Release,
    error: BaseException,
) -> None:
    """Record a refused (a StackError) or interrupted attempt; re-raise anything else."""
    refused = isinstance(error, StackError)
    outcome: Outcome = "refused" if refused else "interrupted"
    state.record(ReleaseRecord.now(action, color, release, outcome, str(error)))
    state.save(state_dir)
    if not refused:
        raise error


def finish(
    state_dir: Path,
    state: StackState,
    backend: Backend,
    record: ReleaseRecord,
    new: ColorState,
    say: Callable[[str], None],
) -> None:
    """Traffic is on `new`: record it, save, then drain and stop the old active color."""
    old = state.colors.get(state.active)
    state.record(record)
    state.active = new.color
    state.colors[new.color] = new
    state.save(state_dir)
    if old is None or old.color == new.color:
        return
    drained_at = time.monotonic()
    ended = backend.stop_color(old)
    state.colors[old.color] = None
    state.save(state_dir)
    say(f"{old.color} drained and stopped in {time.monotonic() - drained_at:.1f} s: {ended}")
    if ended != "exited cleanly":
        raise StackError(f"switched to {new.color}, but {old.color} {ended}")


def start_gated(
    state: StackState,
    backend: Backend,
    idle: str,
    release: Release,
    manifest: Manifest,
    ready_timeout: float,
    say: Callable[[str], None],
) -> ColorState:
    """Start `idle` on `release` and gate it; stop it again if the gate fails."""
    leftover = state.colors.get(idle)
    if leftover is not None and backend.color_running(leftover):
        say(f"stopping a leftover {idle}: {backend.stop_color(leftover)}")
    started = time.monotonic()
    new = backend.start_color(idle, release)
    try:
        gate(backend, new, release, manifest, ready_timeout)
    except BaseException:
        backend.stop_color(new)
        raise
    say(f"{idle} ready and verified in {time.monotonic() - started:.1f} s (port {new.port})")
    return new


def point_and_confirm(
    backend: Backend, old: ColorState, new: ColorState, release: Release, say: Callable[[str], None]
) -> None:
    """Point nginx at `new` and confirm through it; point back at `old` if that fails."""
    switched_at = time.monotonic()
    backend.point_edge_at(new)
    try:
        confirm_through_edge(backend, release)
    except BaseException:
        # Whatever stopped the switch (no confirmation, an interrupt), traffic goes back to old.
        backend.point_edge_at(old)
        raise
    took = time.monotonic() - switched_at
    say(
        f"nginx serves {new.color} (version {release.version}) {took:.2f} s after the symlink moved"
    )
