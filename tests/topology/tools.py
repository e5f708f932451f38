"""Command line tools the container and cluster checks run: linters, validators, `nginx -t`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.topology.processes import ROOT


def run_tool(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a command line tool (a linter, nginx -t) to the end, capturing its output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
