"""What the gunicorn master verified before forking, handed to every worker it forks.

The master reads the manifest and the model file once (`on_starting`) and keeps the bytes whose
hashes it checked; a worker, forked from it then or respawned later, builds its model from those
bytes and never reads the folder again. An in-place edit of the folder after start changes
nothing that is served. onnxruntime sessions are still created in the worker, after the fork.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlvajra.artifact import Format, Manifest, file_for
from mlvajra.errors import ArtifactError
from mlvajra.folder import open_artifact, read_verified
from mlvajra.joblib_loading import check_loadable
from mlvajra.runners import read_code


@dataclass(frozen=True)
class VerifiedArtifact:
    """One artifact as checked once: its folder, manifest, served format and that file's bytes."""

    model_dir: Path
    manifest: Manifest
    model_format: Format
    model: bytes
    code: Mapping[str, bytes] = field(default_factory=dict)
    """A joblib artifact's code/ files, verified with the rest."""


_handed_over: VerifiedArtifact | None = None


def verify_once(
    model_dir: Path,
    model_format: Format | None,
    pinned_sha256: str | None = None,
    public_key: Path | None = None,
) -> VerifiedArtifact:
    """Check the whole folder and keep the served file's bytes; raise `ArtifactError` if not."""
    manifest = open_artifact(model_dir, pinned_sha256, public_key)
    chosen = model_format or manifest.format
    if file_for(chosen) not in manifest.files:
        raise ArtifactError(f"{model_dir} has no {chosen} model in its manifest")
    if chosen == "joblib":
        # Here, in one line, not as "Worker failed to boot" with a traceback from every worker.
        check_loadable(manifest)
    code = read_code(model_dir, manifest) if chosen == "joblib" else {}
    model = read_verified(model_dir, manifest, file_for(chosen))
    return VerifiedArtifact(model_dir, manifest, chosen, model, code)


def hand_over(artifact: VerifiedArtifact) -> None:
    """In the master, before forking: what every worker will serve."""
    global _handed_over
    _handed_over = artifact


def handed_over(model_dir: Path) -> VerifiedArtifact | None:
    """What the master verified for `model_dir`, or None outside gunicorn (tests, in process)."""
    if _handed_over is not None and _handed_over.model_dir == model_dir:
        return _handed_over
    return None
