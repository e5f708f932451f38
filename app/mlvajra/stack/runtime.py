"""Started as root, the local stack runs no worker as root.

nginx's workers and the colors' gunicorn workers switch to an unprivileged account
(MLVAJRA_STACK_USER). That account reaches one folder only, made fresh for each `stack up` and
recorded in the state: the colors' sockets and slot symlinks, their metrics, nginx's temp files.
The stack's own folder (logs, config, state) may sit under parents it cannot traverse: the
masters, still root, open those.
"""

from __future__ import annotations

import grp
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlvajra.config import StackSettings, account
from mlvajra.errors import StackError

PARENTS = (Path("/run"), Path(tempfile.gettempdir()))
"""Where the runtime folder is made: the first root can write to."""


class Runtime(BaseModel):
    """The folder the workers' account reaches, and that account."""

    model_config = ConfigDict(frozen=True)

    directory: str
    user: str
    group: str
    uid: int
    gid: int

    @property
    def path(self) -> Path:
        """The folder: root's, its group the workers' (0750)."""
        return Path(self.directory)

    def owned_dir(self, name: str) -> Path:
        """`<folder>/<name>`, the workers' own (0700): they write there."""
        path = self.path / name
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, self.uid, self.gid)
        return path

    def check_writable(self, folder: Path, setting: str) -> None:
        """Refuse, in one line, a folder the workers' account cannot write to (asked as it)."""
        if not _can(
            self.uid, self.gid, "-d", str(folder), "-a", "-w", str(folder), "-a", "-x", str(folder)
        ):
            raise StackError(
                f"{setting} {folder}: the stack's workers run as {self.user}, who cannot write "
                "there: make it theirs or set MLVAJRA_STACK_USER"
            )


def unreadable_python(uid: int, gid: int) -> Path | None:
    """What the colors' workers import after the fork (the standard library, mlvajra, gunicorn)
    that `uid` cannot read, e.g. a Python installed under root's private home; None if none."""
    packages = [importlib.util.find_spec(name) for name in ("mlvajra", "gunicorn")]
    modules = [os.__file__, *(spec.origin for spec in packages if spec is not None)]
    for module in [Path(path) for path in modules if path is not None]:
        if not _can(uid, gid, "-r", str(module)):
            return module
    return None


def _can(uid: int, gid: int, *test: str) -> bool:
    """`test ARGS` run as `uid`:`gid` without supplementary groups: what that account may do."""
    result = subprocess.run(
        ["test", *test],
        user=uid,
        group=gid,
        extra_groups=[],
        timeout=10,
        check=False,
    )
    return result.returncode == 0


def prepare_runtime() -> Runtime | None:
    """As root, a new runtime folder for MLVAJRA_STACK_USER; else None (all in the state dir)."""
    if os.geteuid() != 0:
        return None
    user = StackSettings().stack_user
    uid, gid = account(user, "MLVAJRA_STACK_USER")
    unreadable = unreadable_python(uid, gid)
    if unreadable is not None:
        raise StackError(
            f"MLVAJRA_STACK_USER: the colors' workers run as {user}, who cannot read "
            f"{unreadable}: install Python where {user} can read it, or set MLVAJRA_STACK_USER"
        )
    parent = next(folder for folder in PARENTS if os.access(folder, os.W_OK | os.X_OK))
    directory = Path(tempfile.mkdtemp(prefix="mlvajra-stack-", dir=parent))
    os.chown(directory, os.geteuid(), gid)
    directory.chmod(0o750)
    group = grp.getgrgid(gid).gr_name
    return Runtime(directory=str(directory), user=user, group=group, uid=uid, gid=gid)


def remove_runtime(runtime: Runtime | None) -> None:
    """Delete the runtime folder once nothing runs from it."""
    if runtime is not None:
        shutil.rmtree(runtime.directory, ignore_errors=True)
