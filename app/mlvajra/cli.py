"""`mlvajra`: train, verify, serve and batch-score one artifact."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import mlvajra
from mlvajra import cli_trust
from mlvajra.artifact import open_artifact, read_manifest
from mlvajra.cli_trust import ManifestPinOption, PublicKeyOption
from mlvajra.errors import ConfigError, DataError, MlvajraError, VerificationError
from mlvajra.stack.commands import stack_cli

GUNICORN_ARGS = ("-c", "python:mlvajra.serving.gunicorn_conf", "mlvajra.serving.main:app")
"""gunicorn's arguments for every service process: the container, `mlvajra serve`, the stack."""


class _OneLineErrors(TyperGroup):
    """Every `MlvajraError` of every verb ends here: its one line on stderr, exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except MlvajraError as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=1) from None


def _show_version(show: bool) -> None:
    if show:
        typer.echo(f"mlvajra {mlvajra.__version__}")
        raise typer.Exit()


cli = typer.Typer(
    cls=_OneLineErrors,
    help="Put one trained scikit-learn pipeline into production.",
    no_args_is_help=True,
)
cli.add_typer(stack_cli, name="stack")
cli_trust.register(cli)


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Put one trained scikit-learn pipeline into production."""


class TaskKind(enum.StrEnum):
    """What the model predicts."""

    classification = "classification"
    regression = "regression"


class FormatKind(enum.StrEnum):
    """Which artifact file scores."""

    onnx = "onnx"
    joblib = "joblib"


@cli.command()
def train(
    data: Annotated[
        str | None,
        typer.Option(
            help="CSV, Parquet or JSON Lines file, or sqlite:///db?table=T; default: penguins."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Column to predict (needed with --data).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name; default: penguins or file stem.")
    ] = None,
    models_root: Annotated[Path, typer.Option(help="Where <name>/<version>/ go.")] = Path("models"),
    version: Annotated[
        str | None, typer.Option(help="Version folder; default: next integer.")
    ] = None,
    task: Annotated[
        TaskKind | None, typer.Option(help="Default: inferred from the target.")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="f1_macro, accuracy, rmse, mae or r2.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="Column to leave out (repeatable).")
    ] = None,
    categorical: Annotated[list[str] | None, typer.Option(help="Treat as categorical.")] = None,
    numeric: Annotated[list[str] | None, typer.Option(help="Treat as numeric.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, CV and model.")] = 42,
    parity_tolerance: Annotated[float, typer.Option(help="Max |sklearn - onnxruntime|.")] = 1e-6,
    allow_worse_than_baseline: Annotated[
        bool, typer.Option(help="Keep a model that does not beat the baseline.")
    ] = False,
) -> None:
    """Train, evaluate against a baseline, export ONNX (+ joblib) and write the manifest."""
    from mlvajra.training.trainer import TrainOptions
    from mlvajra.training.trainer import train as run_training

    options = TrainOptions(
        data=data,
        target=target,
        name=name,
        models_root=models_root,
        version=version,
        task=task.value if task else None,
        metric=metric,
        drop=drop or [],
        categorical=categorical or [],
        numeric=numeric or [],
        seed=seed,
        parity_tolerance=parity_tolerance,
        allow_worse_than_baseline=allow_worse_than_baseline,
    )
    folder = run_training(options)
    manifest = read_manifest(folder)
    typer.echo(f"wrote {folder}")
    typer.echo(
        f"  {manifest.metrics.name}: {manifest.metrics.value:.4f} "
        f"(baseline {manifest.baseline_metrics.value:.4f}, cv {manifest.metrics.cv_mean:.4f})"
    )
    parity = manifest.parity
    if parity is not None:
        diff = parity.max_abs_probability_diff
        if diff is None:
            diff = parity.max_abs_value_diff
        typer.echo(
            f"  parity on {parity.rows} rows: max |delta| {diff:.3g}, passed={parity.passed}"
        )
    reason = f" ({manifest.format_reason})" if manifest.format_reason else ""
    typer.echo(f"  format: {manifest.format}{reason}")


TrustPickleOption = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Unpickle model.joblib: that runs code from the artifact; only for a trusted source.",
    ),
]


@cli.command()
def verify(
    model_dir: Annotated[Path, typer.Argument(help="Artifact version folder.")],
    data: Annotated[
        str | None,
        typer.Option(help="Rows to check parity on (needs --trust-pickle); default: stored rows."),
    ] = None,
    trust_pickle: TrustPickleOption = False,
    manifest_sha256: ManifestPinOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Re-check every file's sha256 and the ONNX graph's parity; non-zero exit on failure.

    By default the graph is compared with the reference outputs stored at export, and nothing is
    unpickled; --trust-pickle compares it with the pickled scikit-learn pipeline instead.
    """
    manifest = open_artifact(model_dir, manifest_sha256, public_key)
    typer.echo(f"hashes ok: {', '.join(sorted(manifest.files))}")
    from mlvajra.training.verification import check_parity

    parity = check_parity(model_dir, manifest, data, trust_pickle)
    if parity is None:
        typer.echo("no ONNX file: parity not applicable (format joblib)")
        return
    if not parity.passed:
        raise VerificationError(parity.reason or "parity failed")
    against = "scikit-learn (unpickled)" if trust_pickle else "the stored reference outputs"
    typer.echo(
        f"parity ok on {parity.rows} rows (tolerance {parity.tolerance:g}) against {against}"
    )


@cli.command()
def serve(
    model_dir: Annotated[
        Path | None, typer.Option(help="Artifact version folder; default: MLVAJRA_MODEL_DIR.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind; default: HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind; default: PORT, 8000.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes; default: MLVAJRA_WORKERS, one per CPU.")
    ] = None,
) -> None:
    """Run gunicorn with uvicorn workers: the same server as the container and the stack."""
    overrides = {"MODEL_DIR": model_dir, "HOST": host, "PORT": port, "WORKERS": workers}
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"MLVAJRA_{name}"] = str(value)
    # exec: gunicorn replaces this process, so signals from the terminal or a supervisor reach it.
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS])  # noqa: S606


@cli.command()
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
        int | None, typer.Option(help="onnxruntime threads; default: one per CPU.")
    ] = None,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON.")
    ] = False,
    trust_pickle: TrustPickleOption = False,
    manifest_sha256: ManifestPinOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Score a file with the service's artifact and validation; invalid rows go to a rejects CSV."""
    import orjson
    import pyarrow

    from mlvajra.batch.progress import progress
    from mlvajra.batch.scoring import score, stop_cleanly_on_sigterm, summary_beside
    from mlvajra.data import open_location
    from mlvajra.predictor import Predictor
    from mlvajra.runners import load_runner

    # Arrow's default pool kept freed blocks: peak RSS grew 11 % from 1M to 10M rows; with
    # malloc it grew 6-7 % (bench/batch.py), at the same speed.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    manifest = open_artifact(model_dir, manifest_sha256, public_key)
    chosen = model_format.value if model_format else manifest.format
    if chosen == "joblib" and not trust_pickle:
        raise ConfigError(
            "scoring with joblib unpickles model.joblib, which runs code from the artifact: "
            "pass --trust-pickle if you trust where it came from"
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
    runner = load_runner(model_dir, manifest, chosen, threads or os.cpu_count() or 1)
    predictor = Predictor(manifest, runner)
    show = sys.stderr.isatty() and not json_summary
    with progress(show, source.row_count() if show else None) as advance:
        summary = score(predictor, source, output, reject_target, keep or [], advance, summary_path)
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


def main() -> None:
    """Console entry point."""
    cli()
