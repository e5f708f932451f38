"""Reading an artifact folder: plain files only, each file's sha256, the manifest's pin and
signature. Load from the bytes these return, never from the path again."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from mlvajra.artifact import MANIFEST_NAME, SIGNATURE_NAME, Manifest
from mlvajra.errors import ArtifactError


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, keyed by its relative POSIX path (`code/x.py`)."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_manifest(model_dir: Path, pinned_sha256: str | None = None) -> Manifest:
    """Parse `manifest.json` of an artifact folder or raise `ArtifactError`.

    `pinned_sha256` (MLVAJRA_MANIFEST_SHA256): the manifest's own hash must be this one.
    """
    return parse_manifest(model_dir, read_manifest_bytes(model_dir), pinned_sha256)


def read_manifest_bytes(model_dir: Path) -> bytes:
    """The bytes of `manifest.json`, not through a symlink."""
    return _read_plain(model_dir, MANIFEST_NAME)


def parse_manifest(model_dir: Path, raw: bytes, pinned_sha256: str | None = None) -> Manifest:
    """The manifest in `raw` (read from `model_dir`), checked against the pin if there is one."""
    path = model_dir / MANIFEST_NAME
    if pinned_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != pinned_sha256.lower():
            raise ArtifactError(
                f"{path} has sha256 {actual}, but MLVAJRA_MANIFEST_SHA256 pins {pinned_sha256}"
            )
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ArtifactError(f"invalid manifest {path}: {where}: {first['msg']}") from None


def _read_plain(model_dir: Path, name: str) -> bytes:
    """The bytes of `name` under `model_dir`, refusing a symlink anywhere below the folder."""
    path = model_dir / name
    parent = model_dir
    for part in PurePosixPath(name).parts[:-1]:
        parent = parent / part
        if parent.is_symlink():
            raise ArtifactError(f"{parent} is a symlink: an artifact holds only plain files")
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if name == MANIFEST_NAME:
            raise ArtifactError(f"cannot read {path}: no such file") from None
        raise ArtifactError(f"missing artifact file {path}") from None
    except OSError as error:
        if path.is_symlink():
            raise ArtifactError(
                f"{path} is a symlink: an artifact holds only plain files"
            ) from None
        raise ArtifactError(f"cannot read {path}: {error.strerror or error}") from None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise ArtifactError(f"{path} is not a regular file")
        return stream.read()


def read_verified(model_dir: Path, manifest: Manifest, name: str) -> bytes:
    """The bytes of one listed file, read once and checked against the manifest's sha256.

    Load from these bytes, never from the path again: a file swapped after the check would be
    loaded unverified.
    """
    expected = manifest.files.get(name)
    if expected is None:
        raise ArtifactError(f"{name} is not listed in the manifest of {model_dir}")
    data = _read_plain(model_dir, name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ArtifactError(
            f"sha256 mismatch for {model_dir / name}: manifest {expected[:12]}..., "
            f"file {actual[:12]}..."
        )
    return data


def verify_files(model_dir: Path, manifest: Manifest, names: list[str] | None = None) -> None:
    """Check the sha256 of every listed file (or only `names`) against the manifest."""
    for name in names if names is not None else list(manifest.files):
        read_verified(model_dir, manifest, name)


def check_folder(model_dir: Path, manifest: Manifest) -> None:
    """Refuse a symlink or a file the manifest does not list anywhere in the folder: a planted
    module or pickle next to a verified artifact must not pass `verify`."""
    allowed = {MANIFEST_NAME, SIGNATURE_NAME, *manifest.files}
    for root, folders, files in os.walk(model_dir):
        here = Path(root)
        for entry in [*folders, *files]:
            path = here / entry
            relative = path.relative_to(model_dir).as_posix()
            if path.is_symlink():
                raise ArtifactError(f"{path} is a symlink: an artifact holds only plain files")
            if entry in files and relative not in allowed:
                raise ArtifactError(f"{path} is not listed in the manifest (unlisted file)")


def open_artifact(
    model_dir: Path, pinned_sha256: str | None = None, public_key: Path | None = None
) -> Manifest:
    """The manifest of a whole checked artifact: pinned and signed if configured, no symlink or
    unlisted file, every listed file's hash right. What the serving master, `verify` and batch
    scoring accept."""
    raw = read_manifest_bytes(model_dir)
    if public_key is not None:
        from mlvajra.signing import verify_signature

        verify_signature(raw, model_dir / SIGNATURE_NAME, public_key)
    manifest = parse_manifest(model_dir, raw, pinned_sha256)
    check_folder(model_dir, manifest)
    verify_files(model_dir, manifest)
    return manifest
