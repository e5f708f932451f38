"""Verbs that run the artifact: `serve` (gunicorn) and `predict` (batch files)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlvajra.cli.options import FormatKind, TrustPickleOption
from mlvajra.cli.trust import ManifestPinOption, PublicKeyOption
from mlvajra.errors import ConfigError, DataError
from mlvajra.folder import open_artifact

GUNICORN_ARGS = ("-c", "python:mlvajra.serving.gunicorn_conf", "mlvajra.serving.main:app")
"""gunicorn's arguments for every service process: the container, `mlvajra serve`, the stack."""


def register(cli: typer.Typer) -> None:
    """Add `serve` and `predict` to the root."""
    cli.command()(serve)
    cli.command()(predict)


def serve(
    model_dir: Annotated[
        Path | None, typer.Option(help="Artifact version folder; default: MLVAJRA_MODEL_DIR.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind; default: HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind; default: PORT, 8000.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes; default: MLVAJRA_WORKERS, one per CPU.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Also listen here for /metrics, /health and /ready only; default: "
            "MLVAJRA_METRICS_PORT, none."
        ),
    ] = None,
) -> None:
    """Run gunicorn with uvicorn workers: the same server as the container and the stack."""
    overrides = {
        "MODEL_DIR": model_dir,
        "HOST": host,
        "PORT": port,
        "WORKERS": workers,
        "METRICS_PORT": metrics_port,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"MLVAJRA_{name}"] = str(value)
    # exec: gunicorn replaces this process, so signals from the terminal or a supervisor reach it.
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS])  # noqa: S606


def predict(
    input_location: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="A .csv, .parquet or .jsonl file, or sqlite:///db?table=T."
        ),
    ],
    output_location: Annotated[
        str, typer.Argument(metavar="OUTPUT", help="Where predictions go; same kinds as INPUT.")
    ],
    model_dir: Annotated[
        Path, typer.Option(envvar="MLVAJRA_MODEL_DIR", help="Artifact version folder.")
    ],
    keep: Annotated[
        list[str] | None,
        typer.Option(help="Input column copied to the output, e.g. an id (repeatable)."),
    ] = None,
    rejects: Annotated[
        str | None,
        typer.Option(help="CSV of invalid rows; default: <OUTPUT stem>.rejects.csv beside OUTPUT."),
    ] = None,
    model_format: Annotated[
        FormatKind | None,
        typer.Option("--format", help="Default: the manifest's format."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="ONNX scoring threads, one batch each; default: one per CPU."),
    ] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON.")
    ] = False,
    trust_pickle: TrustPickleOption = False,
    manifest_sha256: ManifestPinOption = None,
    public_key: PublicKeyOption = None,
    debug: Annotated[
        bool,
        typer.Option(
            help="Add every pipeline step's output and the contributions (unpickles model.joblib)."
        ),
    ] = False,
) -> None:
    """Score a file with the service's artifact and validation; invalid rows go to a rejects CSV."""
    import orjson

    try:
        import pyarrow
    except ImportError:
        raise ConfigError("mlvajra predict needs pyarrow: pip install 'mlvajra[batch]'") from None
    from mlvajra.batch.commit import stop_cleanly_on_sigterm, summary_beside
    from mlvajra.batch.progress import progress
    from mlvajra.batch.scoring import score
    from mlvajra.data import open_location
    from mlvajra.predictor import Predictor
    from mlvajra.runners import load_runner

    # Arrow's default pool kept freed blocks: peak RSS grew 11 % from 1M to 10M rows; with
    # malloc it grew 6-7 % (bench/batch.py), at the same speed.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    manifest = open_artifact(model_dir, manifest_sha256, public_key)
    chosen = model_format.value if model_format else manifest.format
    if (chosen == "joblib" or debug) and not trust_pickle:
        raise ConfigError(
            "scoring with joblib (or --debug) unpickles model.joblib, which runs code from the "
            "artifact: pass --trust-pickle if you trust where it came from"
        )
    source = open_location(input_location)
    output = open_location(output_location)
    default_rejects = output.path.with_name(f"{output.stem()}.rejects.csv")
    reject_target = open_location(rejects or default_rejects)
    if output.path.resolve() == source.path.resolve():
        raise DataError("OUTPUT must differ from INPUT")
    # Written last, the rejects would have replaced the input or the predictions (exit 0).
    if reject_target.path.resolve() in {source.path.resolve(), output.path.resolve()}:
        raise DataError("--rejects must differ from INPUT and OUTPUT")
    summary_path = summary_beside(output)  # written last: the commit of the pair
    if summary_path.resolve() in {p.path.resolve() for p in (source, output, reject_target)}:
        raise DataError(f"{summary_path} (the run's summary) must differ from INPUT and OUTPUT")
    stop_cleanly_on_sigterm()
    # Batches score side by side, onnxruntime on one thread in each: its own intra-op threads
    # cost more CPU per row on a forest (README, Speed and memory). A pickled pipeline may run its
    # own code, not known to be thread-safe: one scoring thread.
    runner = load_runner(model_dir, manifest, chosen, threads=1)
    workers = 1 if chosen == "joblib" else threads or os.cpu_count() or 1
    predictor = Predictor(manifest, runner)
    annotate = None
    if debug:
        from mlvajra.explain.columns import debug_annotation

        annotate = debug_annotation(model_dir, manifest)
    show = sys.stderr.isatty() and not json_summary
    with progress(show, source.row_count() if show else None) as advance:
        summary = score(
            predictor,
            source,
            output,
            reject_target,
            keep or [],
            advance,
            annotate,
            summary_path,
            workers=workers,
        )
    if json_summary:
        typer.echo(orjson.dumps(summary.as_dict()).decode())
        return
    typer.echo(
        f"{summary.input_rows} rows in = {summary.output_rows} scored + "
        f"{summary.rejected_rows} rejected ({summary.problems} problems) "
        f"in {summary.seconds:.2f} s, {summary.rows_per_second:,.0f} rows/s"
    )
    typer.echo(f"  predictions: {summary.output}")
    typer.echo(f"  rejects:     {summary.rejects}")
    typer.echo(f"  summary:     {summary_path}")
