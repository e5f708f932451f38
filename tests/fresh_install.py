"""The fresh install tests/test_install.py builds: the checkout's files, the wheel's virtualenv
and a user's shell environment around it."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.topology.processes import NGINX

ROOT = Path(__file__).resolve().parents[1]
DEV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class FreshInstall:
    """The built wheel and the virtualenv it was installed into."""

    wheel: Path
    venv: Path
    env: dict[str, str]
    """A user's shell: the fresh virtualenv first on PATH, no PYTHON*, MLVAJRA_* or VIRTUAL_ENV."""

    def run(
        self, *command: str, cwd: Path, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`command`, its executable from the fresh virtualenv, as the user types it in `cwd`."""
        return subprocess.run(
            [str(self.venv / "bin" / command[0]), *command[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _checkout_files() -> list[str]:
    """What a clone of this checkout holds, plus new files not ignored: tracked or not, as now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return [name for name in listed.stdout.decode().split("\0") if (ROOT / name).is_file()]


def _copy_checkout(target: Path) -> Path:
    """Copy the checkout's files: a build there cannot pick up stale `build/` or egg-info here."""
    for name in _checkout_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def _constraints(path: Path) -> Path:
    """The dev virtualenv's versions: the fresh one gets what the suite runs on, cached by pip."""
    pins = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"].lower() != "mlvajra"
    )
    path.write_text("\n".join(pins) + "\n")
    return path


def _user_env(venv: Path) -> dict[str, str]:
    """This environment without the dev virtualenv: its bin off PATH, nothing steering Python."""
    inherited = os.environ.get("PATH", "").split(os.pathsep)
    path = [str(venv / "bin"), *(entry for entry in inherited if entry and Path(entry) != DEV_BIN)]
    if str(Path(NGINX).parent) not in path:
        path.append(str(Path(NGINX).parent))  # nginx is found on PATH, as the user's is
    dropped = ("PYTHON", "MLVAJRA_", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    # The fresh virtualenv lives in pytest's temp folder, private to root (0700): as root, the
    # stack's unprivileged workers could not import it, and `stack up` would refuse.
    root_workers = {"MLVAJRA_STACK_USER": "root"} if os.geteuid() == 0 else {}
    return {**env, "PATH": os.pathsep.join(path), **root_workers}


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-3000:]
