"""The release history in state.json: what served when, and where a rollback goes."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel

from mlvajra.stack.platform import Release

Action = Literal["up", "switch", "rollback", "canary", "ab"]
Outcome = Literal["up", "switched", "rolled back", "refused", "interrupted", "ended"]
"""How an attempt ended: traffic went to it (up, switched, rolled back), or it stayed put
(refused, interrupted, and an A/B test that ended)."""
HISTORY_LIMIT = 500
"""Records kept in state.json; the oldest go first."""
_MOVED: frozenset[Outcome] = frozenset({"up", "switched", "rolled back"})


class ReleaseRecord(BaseModel):
    """One `stack up`, switch or rollback: when, which color, which artifact, how it ended."""

    time: str
    action: Action
    color: str
    release: Release
    outcome: Outcome
    reason: str | None = None

    @classmethod
    def now(
        cls, action: Action, color: str, release: Release, outcome: Outcome, reason: str = ""
    ) -> ReleaseRecord:
        """A record stamped with the current UTC time."""
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(
            time=stamp,
            action=action,
            color=color,
            release=release,
            outcome=outcome,
            reason=reason or None,
        )


def live_releases(history: list[ReleaseRecord]) -> list[ReleaseRecord]:
    """The releases a rollback can step back through, the serving one last.

    `stack up` starts the list afresh, a switch adds to it, a rollback takes the serving release
    off (so a second rollback goes one step further back, never forth again).
    """
    live: list[ReleaseRecord] = []
    for record in history:
        if record.outcome == "up":
            live = [record]
        elif record.outcome == "switched":
            live.append(record)
        elif record.outcome == "rolled back" and live:
            live.pop()
            if live:  # the same release, now on the color the rollback started
                live[-1] = record
    return live


def serving_index(history: list[ReleaseRecord]) -> int | None:
    """Position of the record whose release serves now (the last one traffic moved to)."""
    moved = [index for index, record in enumerate(history) if record.outcome in _MOVED]
    return moved[-1] if moved else None


def describe(release: Release) -> str:
    """`penguins 2 (sha256 <hex>)`: how the CLI names a release."""
    return f"{release.name or '(unnamed)'} {release.version} (sha256 {release.sha256})"


def history_table(history: list[ReleaseRecord]) -> str:
    """One line per record, oldest first; `*` marks the serving release."""
    serving = serving_index(history)
    rows = [["", "time", "action", "color", "name", "version", "sha256", "outcome"]]
    for index, record in enumerate(history):
        release = record.release
        outcome = record.outcome + (f": {record.reason}" if record.reason else "")
        mark = "*" if index == serving else ""
        row = [mark, record.time, record.action, record.color, release.name, release.version]
        rows.append([*row, release.sha256[:12], outcome])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = []
    for line in rows:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(lines)
