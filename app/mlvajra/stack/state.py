"""`state.json`: what `stack up` started, read back by every later stack command."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from mlvajra.errors import StackError
from mlvajra.stack.analysis import Analysis
from mlvajra.stack.compose import ComposeBackend
from mlvajra.stack.history import HISTORY_LIMIT, ReleaseRecord
from mlvajra.stack.local import LocalBackend
from mlvajra.stack.nginx import EdgeOptions, write_atomically
from mlvajra.stack.platform import Backend, ColorState
from mlvajra.stack.runtime import Runtime

STATE_FILE = "state.json"
SplitKind = Literal["canary", "ab"]
Phase = Literal["running", "promoted", "rolled back", "ended"]


class SplitState(BaseModel):
    """A canary or an A/B test: which color takes which share, and what the analysis found."""

    kind: SplitKind
    color: str
    """The color serving the new release (the stable one is StackState.active)."""
    weight: int = 0
    """Percent of clients (slots) sent to `color`."""
    steps: list[int] = []
    phase: Phase = "running"
    controller_pid: int
    """The `mlvajra stack canary` or `ab` process moving the weight."""
    analyses: list[Analysis] = []
    served: int | None = None
    """Prediction requests the new color answered before it was rolled back or ended."""
    served_5xx: int | None = None


class StackState(BaseModel):
    """The stack's backend, options and colors; saved atomically after every step."""

    backend: Literal["local", "compose"]
    options: EdgeOptions
    workers: int | None = None
    models_root: str = "models"
    project_dir: str = "."
    active: str = "blue"
    colors: dict[str, ColorState | None] = {}
    releases: list[ReleaseRecord] = []
    """Every up, switch and rollback, oldest first (see `mlvajra.stack.history`)."""
    split: SplitState | None = None
    """The running or the last canary or A/B test."""
    runtime: Runtime | None = None
    """Local, started as root: the folder and user of the unprivileged workers."""

    def record(self, record: ReleaseRecord) -> None:
        """Add `record` to the history, dropping the oldest past HISTORY_LIMIT (save after)."""
        self.releases = [*self.releases, record][-HISTORY_LIMIT:]

    def save(self, state_dir: Path) -> None:
        """Write state.json atomically."""
        write_atomically(state_dir / STATE_FILE, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> StackState:
        """Read state.json, or say that no stack was started there or that the file is damaged."""
        path = state_dir / STATE_FILE
        try:
            raw = path.read_bytes()
        except OSError:
            raise StackError(f"no stack in {state_dir}: run `mlvajra stack up` first") from None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(file)"
            raise StackError(f"damaged {path}: {where}: {first['msg']}") from None

    def backend_for(self, state_dir: Path) -> Backend:
        """The backend this stack was started with."""
        if self.backend == "compose":
            return ComposeBackend(self.options, Path(self.models_root), Path(self.project_dir))
        return LocalBackend(state_dir, self.options, self.workers, self.runtime)
