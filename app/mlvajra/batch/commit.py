"""How a batch run commits: its summary, written last, says the predictions and rejects beside it
come from one run; SIGTERM stops the run cleanly at the next batch."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from pathlib import Path

from mlvajra.data import DataKind


def summary_beside(output: DataKind) -> Path:
    """Where a run's summary goes: `<OUTPUT stem>.summary.json` beside OUTPUT."""
    return output.path.with_name(f"{output.stem()}.summary.json")


TERMINATED = threading.Event()


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (a scheduler's stop, `kill`) ends the run at the next batch: the sinks abort and
    their temp files go. The handler only sets a flag: an exception raised from it inside
    onnxruntime's `run` crashed the process (SIGSEGV) here."""
    signal.signal(signal.SIGTERM, lambda signum, frame: TERMINATED.set())


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, then rename it into place."""
    handle, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    os.replace(name, path)
