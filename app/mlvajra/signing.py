"""Signing an artifact's manifest with a local elliptic-curve key pair (`model-signing`).

The signature covers `manifest.json`, which holds the sha256 of every other file, so one
signature vouches for the whole folder. Verification runs on the manifest bytes that are then
parsed, copied into a private folder first: the folder's own file could be swapped between the
check and the read. Keyless (Sigstore) signing needs the network and is not offered here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlvajra.errors import ArtifactError, ConfigError

_MISSING = "needs model-signing, which is not installed: pip install 'mlvajra[signing]'"


def _model_signing(why: str) -> Any:
    try:
        import model_signing
    except ImportError:
        raise ConfigError(f"{why} {_MISSING}") from None
    return model_signing


def sign_manifest(manifest: Path, signature: Path, private_key: Path) -> None:
    """Write `signature` for the file `manifest`, signed with the PEM `private_key`."""
    model_signing = _model_signing("signing")
    try:
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key)
        config.sign(manifest, signature)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"cannot sign {manifest} with {private_key}: {error}") from None


def verify_signature(manifest_bytes: bytes, signature_path: Path, public_key: Path) -> None:
    """Raise `ArtifactError` unless the file `signature_path` signs exactly `manifest_bytes`."""
    model_signing = _model_signing("MLVAJRA_SIGNING_PUBLIC_KEY is set: verifying signatures")
    try:
        signature = signature_path.read_bytes()
    except OSError:
        raise ArtifactError(
            f"{signature_path} is missing: a signing public key is configured, so every "
            "artifact must be signed (mlvajra sign)"
        ) from None
    if not public_key.is_file():
        raise ConfigError(f"MLVAJRA_SIGNING_PUBLIC_KEY: no file {public_key}")
    with tempfile.TemporaryDirectory(prefix="mlvajra-signature-") as private:
        copy = Path(private) / "manifest"
        copy.write_bytes(manifest_bytes)
        (Path(private) / "signature").write_bytes(signature)
        try:
            config = model_signing.verifying.Config()
            config.use_elliptic_key_verifier(public_key=public_key)
            config.verify(copy, Path(private) / "signature")
        except Exception as error:  # the library raises ValueError, its own errors and others
            reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
            raise ArtifactError(
                f"{signature_path} does not verify with {public_key}: {reason}"
            ) from None
