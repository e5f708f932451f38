"""The manifest protects itself: plain names inside the folder, no symlinks or unlisted files,
a pinned manifest sha256, and signatures with a local key pair (`mlvajra sign`)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from mlvajra.artifact import MANIFEST_NAME, ONNX_FILE, SIGNATURE_NAME
from mlvajra.cli import cli
from mlvajra.errors import ArtifactError
from mlvajra.folder import open_artifact, sha256_file

runner = CliRunner()


def _edit(model_dir: Path, **changes: object) -> None:
    path = model_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def _files(model_dir: Path) -> dict[str, str]:
    files: dict[str, str] = json.loads((model_dir / MANIFEST_NAME).read_text())["files"]
    return files


@pytest.mark.parametrize(
    "name", ["../../../../etc/passwd", "/etc/passwd", "code/../../x", "./model.onnx", "a\\b", ""]
)
def test_a_name_outside_the_folder_is_refused_before_anything_is_hashed(
    artifact_copy: Path, name: str
) -> None:
    outside = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    _edit(artifact_copy, files={**_files(artifact_copy), name: "0" * 64})
    with pytest.raises(ArtifactError, match=r"invalid manifest .*files: .*file name") as caught:
        open_artifact(artifact_copy)
    assert outside[:6] not in str(caught.value)


def test_a_listed_file_in_a_listed_subfolder_passes(artifact_copy: Path) -> None:
    (artifact_copy / "code").mkdir()
    (artifact_copy / "code" / "features.py").write_text("X = 1\n")
    digest = sha256_file(artifact_copy / "code" / "features.py")
    _edit(artifact_copy, files={**_files(artifact_copy), "code/features.py": digest})
    assert "code/features.py" in open_artifact(artifact_copy).files


@pytest.mark.parametrize("where", ["extra.py", "code/extra.py"])
def test_an_unlisted_file_is_named(artifact_copy: Path, where: str) -> None:
    (artifact_copy / where).parent.mkdir(exist_ok=True)
    (artifact_copy / where).write_text("import os\n")
    with pytest.raises(ArtifactError, match=f"{where} is not listed in the manifest"):
        open_artifact(artifact_copy)


def test_a_symlinked_model_with_the_right_hash_is_refused(
    artifact_copy: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.onnx"
    (artifact_copy / ONNX_FILE).rename(elsewhere)
    (artifact_copy / ONNX_FILE).symlink_to(elsewhere)
    with pytest.raises(ArtifactError, match=f"{ONNX_FILE} is a symlink"):
        open_artifact(artifact_copy)


def test_a_symlinked_subfolder_is_refused(artifact_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "features.py").write_text("X = 1\n")
    (artifact_copy / "code").symlink_to(tmp_path / "real")
    digest = sha256_file(tmp_path / "real" / "features.py")
    _edit(artifact_copy, files={**_files(artifact_copy), "code/features.py": digest})
    with pytest.raises(ArtifactError, match="code is a symlink"):
        open_artifact(artifact_copy)


def test_the_pinned_manifest_sha256_refuses_a_rewritten_version(artifact_copy: Path) -> None:
    pin = sha256_file(artifact_copy / MANIFEST_NAME)
    assert open_artifact(artifact_copy, pinned_sha256=pin).version == "1"
    _edit(artifact_copy, version="1-REWRITTEN")
    result = runner.invoke(
        cli, ["verify", str(artifact_copy)], env={"MLVAJRA_MANIFEST_SHA256": pin}
    )
    assert result.exit_code == 1
    assert f"MLVAJRA_MANIFEST_SHA256 pins {pin}" in result.output


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh P-256 key pair as PEM files: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_a_signed_artifact_verifies_and_a_rewritten_one_does_not(
    artifact_copy: Path, key_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = key_pair
    signed = runner.invoke(cli, ["sign", str(artifact_copy), "--key", str(private)])
    assert signed.exit_code == 0, signed.output
    assert (artifact_copy / SIGNATURE_NAME).is_file()
    checked = runner.invoke(
        cli, ["verify", str(artifact_copy)], env={"MLVAJRA_SIGNING_PUBLIC_KEY": str(public)}
    )
    assert checked.exit_code == 0, checked.output

    _edit(artifact_copy, version="1-REWRITTEN")
    with pytest.raises(ArtifactError, match="does not verify"):
        open_artifact(artifact_copy, public_key=public)


def test_an_unsigned_artifact_is_refused_when_a_key_is_configured(
    artifact_copy: Path, key_pair: tuple[Path, Path]
) -> None:
    with pytest.raises(ArtifactError, match=f"{SIGNATURE_NAME} is missing"):
        open_artifact(artifact_copy, public_key=key_pair[1])


def test_a_signature_by_another_key_is_refused(
    artifact_copy: Path, key_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    other_public = tmp_path / "other.pub"
    other_public.write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = runner.invoke(cli, ["sign", str(artifact_copy), "--key", str(key_pair[0])])
    assert result.exit_code == 0, result.output
    with pytest.raises(ArtifactError, match="does not verify"):
        open_artifact(artifact_copy, public_key=other_public)
    assert os.path.getsize(artifact_copy / SIGNATURE_NAME) > 0
