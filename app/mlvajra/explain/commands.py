"""The owners' verbs: `mlvajra explore` (the page) and `mlvajra report` (the batch report)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlvajra.artifact import read_manifest
from mlvajra.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

TRUST_HELP = "Unpickle model.joblib (after its sha256 check): it runs code from the artifact."


def register(app: typer.Typer) -> None:
    """Add `explore` and `report` to the CLI."""
    app.command()(explore)


def explore(
    model_dir: Annotated[Path, typer.Argument(help="Artifact version folder.")],
    host: Annotated[str, typer.Option(help="Address to bind; keep it local.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8765,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help=TRUST_HELP)] = False,
) -> None:
    """A local page for the model's owners: the model card, a form, every step's output and why."""
    app = explore_app(model_dir, trust_pickle)
    import uvicorn

    typer.echo(f"explore {model_dir} on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def explore_app(model_dir: Path, trust_pickle: bool) -> FastAPI:
    """The explore page's FastAPI app for an artifact folder, after the trust and hash checks."""
    manifest = read_manifest(model_dir)
    _need_trust(trust_pickle, "explore")
    _need_extra()
    from mlvajra.explain.card import read_reference
    from mlvajra.explain.debug import Debugger
    from mlvajra.explain.page import create_explore_app

    return create_explore_app(
        Debugger.load(model_dir, manifest), read_reference(model_dir, manifest)
    )


def _need_trust(trust_pickle: bool, verb: str) -> None:
    if not trust_pickle:
        raise ConfigError(
            f"{verb} unpickles model.joblib (after checking its sha256), which runs code from "
            "the artifact: pass --trust-pickle if you trust where it came from"
        )


def _need_extra() -> None:
    """The serving image installs neither scikit-learn nor shap: the page is off there."""
    try:
        import shap  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError(
            "explore and report need the [explain] extra: pip install 'mlvajra[explain]' "
            "(the serving image leaves it out)"
        ) from None
