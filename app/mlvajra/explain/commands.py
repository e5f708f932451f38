"""The owners' verbs: `mlvajra explore` (the page) and `mlvajra report` (the batch report)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlvajra.errors import ConfigError
from mlvajra.folder import read_manifest

if TYPE_CHECKING:
    from fastapi import FastAPI

TRUST_HELP = "Unpickle model.joblib (after its sha256 check): it runs code from the artifact."


def register(app: typer.Typer) -> None:
    """Add `explore` and `report` to the CLI."""
    app.command()(explore)
    app.command()(report)


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


def report(
    model_dir: Annotated[Path, typer.Argument(help="Artifact version folder.")],
    data: Annotated[str, typer.Option(help="Labelled data: CSV, Parquet, JSON Lines or SQLite.")],
    out: Annotated[Path, typer.Option(help="The HTML report to write.")] = Path("report.html"),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    model_format: Annotated[
        str | None, typer.Option("--format", help="onnx or joblib; default: the manifest's.")
    ] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help=TRUST_HELP)] = False,
) -> None:
    """The project team's report: metrics, per class or residuals, slices, drift, worst rows."""
    import sys

    import orjson

    from mlvajra.explain.report import build_report
    from mlvajra.explain.report_html import render_report

    manifest = read_manifest(model_dir)
    chosen = model_format or manifest.format
    if chosen not in ("onnx", "joblib"):
        raise ConfigError(f"--format must be onnx or joblib, not {chosen[:20]!r}")
    if chosen == "joblib":
        _need_trust(trust_pickle, "report with joblib")
    figures, reference, observed = build_report(
        model_dir, manifest, data, "onnx" if chosen == "onnx" else "joblib", sys.stderr.isatty()
    )
    out.write_text(render_report(manifest, figures, reference, observed))
    if json_out is not None:
        json_out.write_bytes(
            orjson.dumps(
                figures, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
            )
        )
    metric = figures["metric"]
    typer.echo(
        f"{metric['name']} {metric['this_data']:.4f} on {figures['data']['reported']} rows "
        f"(held out {metric['held_out']:.4f}, baseline {metric['baseline']:.4f})"
    )
    typer.echo(f"  report: {out}" + (f"\n  json:   {json_out}" if json_out else ""))


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
