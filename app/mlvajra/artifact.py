"""The artifact on disk: the manifest, its file hashes, and reading and checking both."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlvajra.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
"""The signature of manifest.json (`mlvajra sign`); the one file besides the manifest that the
manifest cannot list."""
ONNX_FILE = "model.onnx"
JOBLIB_FILE = "model.joblib"
REFERENCE_FILE = "reference.npz"
"""The parity rows' inputs and scikit-learn's outputs for them, saved without pickle: `mlvajra
verify` compares the ONNX graph with them and never has to unpickle the pipeline."""

Format = Literal["onnx", "joblib"]
Task = Literal["classification", "regression"]
InputType = Literal["number", "integer", "string", "boolean"]


class InputSpec(BaseModel):
    """One raw input column of the pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: InputType
    nullable: bool
    categories: list[str] | None = None
    dtype: str | None = None
    """The pandas dtype the pipeline was fitted with ("float64", "Int64", "category", ...), so a
    runner can rebuild the frame it expects; None for artifacts of mlvajra's built-in pipeline
    (float64 numbers, text with the missing marker)."""


class Metrics(BaseModel):
    """A metric measured on held-out data, with its cross-validation figures."""

    name: str
    value: float
    cv_mean: float | None = None
    cv_std: float | None = None


class Parity(BaseModel):
    """Agreement between scikit-learn and onnxruntime on the same rows."""

    rows: int
    label_agreement: float | None = None
    max_abs_probability_diff: float | None = None
    max_abs_value_diff: float | None = None
    tolerance: float
    passed: bool
    reason: str | None = None


class Training(BaseModel):
    """Where the model came from."""

    data_source: str
    rows: int
    data_sha256: str
    train_rows: int
    test_rows: int
    seed: int
    estimator: str
    library_versions: dict[str, str]


class Manifest(BaseModel):
    """Everything the service needs to know about one artifact version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    task: Task
    format: Format
    created_at: str
    files: dict[str, str]
    inputs: list[InputSpec] = Field(min_length=1)
    target: str
    classes: list[str | int | bool] | None = None
    metrics: Metrics
    baseline_metrics: Metrics
    parity: Parity | None = None
    format_reason: str | None = None
    training: Training

    @field_validator("files")
    @classmethod
    def _plain_relative_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name in files:
            if why := _unsafe_name(name):
                raise ValueError(f"file name {name[:80]!r} {why}")
        return files

    def sha256(self, model_format: Format) -> str:
        """The hash of the file that serves `model_format`."""
        return self.files[file_for(model_format)]


def _unsafe_name(name: str) -> str | None:
    """Why `name` may not be a `files` entry, or None: only plain relative paths inside the folder,
    else the hash check reads (and its message quotes the hash of) a file outside it."""
    parts = name.split("/")
    if not name or "\\" in name or "\0" in name or PurePosixPath(name).is_absolute():
        return "is not a plain relative path"
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' part"
    if name in (MANIFEST_NAME, SIGNATURE_NAME):
        return "names the manifest or its signature"
    return None


def file_for(model_format: Format) -> str:
    """The artifact file that holds a format."""
    return ONNX_FILE if model_format == "onnx" else JOBLIB_FILE


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
