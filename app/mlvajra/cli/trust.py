"""`mlvajra sign`, and the options every verb that loads an artifact takes to pin or check it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ManifestPinOption = Annotated[
    str | None,
    typer.Option(
        "--manifest-sha256",
        envvar="MLVAJRA_MANIFEST_SHA256",
        help="Refuse the artifact unless manifest.json has this sha256.",
    ),
]
PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        envvar="MLVAJRA_SIGNING_PUBLIC_KEY",
        help="PEM public key: refuse the artifact unless manifest.sig verifies with it.",
    ),
]


def sign(
    model_dir: Annotated[Path, typer.Argument(help="Artifact version folder.")],
    key: Annotated[Path, typer.Option("--key", help="PEM elliptic-curve private key.")],
) -> None:
    """Check the artifact, then sign its manifest with a local key (writes manifest.sig).

    Keyless (Sigstore) signing needs the network and is not offered.
    """
    from mlvajra.artifact import MANIFEST_NAME, SIGNATURE_NAME
    from mlvajra.folder import open_artifact
    from mlvajra.signing import sign_manifest

    open_artifact(model_dir)  # never vouch for a folder that does not verify
    sign_manifest(model_dir / MANIFEST_NAME, model_dir / SIGNATURE_NAME, key)
    typer.echo(f"wrote {model_dir / SIGNATURE_NAME}")


def register(app: typer.Typer) -> None:
    """Add `sign` to the CLI."""
    app.command()(sign)
