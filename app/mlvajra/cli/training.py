"""Verbs that make and check artifacts: `train`, `package`, `verify`."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlvajra.cli.options import TaskKind, TrustPickleOption
from mlvajra.cli.trust import ManifestPinOption, PublicKeyOption
from mlvajra.errors import MlvajraWarning, TrainingError, VerificationError
from mlvajra.folder import open_artifact

if TYPE_CHECKING:
    from mlvajra.training.packaging import Packaged

DataOption = Annotated[
    str | None,
    typer.Option(
        help="CSV, Parquet or JSON Lines file, or sqlite:///db?table=T; default: penguins."
    ),
]
TargetOption = Annotated[str | None, typer.Option(help="Column to predict (needed with --data).")]
ModelsRootOption = Annotated[Path, typer.Option(help="Where <name>/<version>/ go.")]
VersionOption = Annotated[str | None, typer.Option(help="Version folder; default: next integer.")]
TaskOption = Annotated[
    TaskKind | None, typer.Option(help="Default: the estimator's kind, or from the target.")
]
MetricOption = Annotated[
    str | None,
    typer.Option(
        help="f1_macro, accuracy, rmse, mae, r2, any scikit-learn scorer name, or "
        "module:function (y_true, y_pred) -> float; default f1_macro / rmse."
    ),
]
NullableOption = Annotated[
    list[str] | None,
    typer.Option(help="Input that may be null when predicting, though the data has no gap."),
]
ToleranceOption = Annotated[
    float | None, typer.Option(help="Max |sklearn - onnxruntime|; default: mlvajra's.")
]
AllowWorseOption = Annotated[
    bool, typer.Option(help="Keep a model that does not beat the dummy baseline.")
]


def register(cli: typer.Typer) -> None:
    """Add `train`, `package` and `verify` to the root."""
    cli.command()(train)
    cli.command()(package)
    cli.command()(verify)


def train(
    pipeline: Annotated[
        str | None,
        typer.Option(
            help="file.py:function returning an unfitted estimator; default: mlvajra's forest."
        ),
    ] = None,
    data: DataOption = None,
    target: TargetOption = None,
    name: Annotated[
        str | None, typer.Option(help="Model name; default: penguins or file stem.")
    ] = None,
    models_root: ModelsRootOption = Path("models"),
    version: VersionOption = None,
    task: TaskOption = None,
    metric: MetricOption = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="Column to leave out (repeatable).")
    ] = None,
    categorical: Annotated[list[str] | None, typer.Option(help="Treat as categorical.")] = None,
    numeric: Annotated[list[str] | None, typer.Option(help="Treat as numeric.")] = None,
    nullable: NullableOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, CV and model.")] = 42,
    parity_tolerance: ToleranceOption = None,
    allow_worse_than_baseline: AllowWorseOption = False,
    feedback: Annotated[
        Path | None, typer.Option(help="State dir: also train on its collected labels.")
    ] = None,
    compare_with: Annotated[
        Path | None, typer.Option(help="models/<name>/<N>: write nothing if the new one is worse.")
    ] = None,
) -> None:
    """Fit a pipeline with a held-out split and CV, beat the baselines, export ONNX (+ joblib)."""
    from mlvajra.training.export import DEFAULT_TOLERANCE
    from mlvajra.training.trainer import TrainOptions
    from mlvajra.training.trainer import train as run_training
    from mlvajra.training.usercode import load_callable

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
        nullable=nullable or [],
        seed=seed,
        parity_tolerance=DEFAULT_TOLERANCE if parity_tolerance is None else parity_tolerance,
        allow_worse_than_baseline=allow_worse_than_baseline,
        feedback=feedback,
        compare_with=compare_with,
    )
    with _printing_warnings():
        estimator = None if pipeline is None else _build(load_callable(pipeline, "--pipeline"))
        _print_summary(run_training(options, estimator))


def package(
    pipeline: Annotated[Path, typer.Option(help="A fitted pipeline saved with joblib.dump.")],
    data: Annotated[str, typer.Option(help="Held-out rows (any --data kind), with the target.")],
    target: Annotated[str, typer.Option(help="The target column in --data.")],
    name: Annotated[str | None, typer.Option(help="Model name; default: the file stem.")] = None,
    models_root: ModelsRootOption = Path("models"),
    version: VersionOption = None,
    task: TaskOption = None,
    metric: MetricOption = None,
    nullable: NullableOption = None,
    parity_tolerance: ToleranceOption = None,
    allow_worse_than_baseline: AllowWorseOption = False,
) -> None:
    """Package a pipeline fitted elsewhere: scored on held-out rows against the baselines."""
    from mlvajra.training.datasets import read_dataset
    from mlvajra.training.export import DEFAULT_TOLERANCE
    from mlvajra.training.packaging import package as package_fitted

    typer.secho(
        f"warning: loading {pipeline} runs the code pickled in it: package only a file from "
        "a source you trust",
        err=True,
        fg=typer.colors.YELLOW,
    )
    dataset = read_dataset(data)
    with _printing_warnings():
        packaged = package_fitted(
            _load_pickle(pipeline),
            dataset.frame,
            target,
            name=name or pipeline.stem,
            models_root=models_root,
            metric=metric,
            task=task.value if task else None,
            version=version,
            nullable=nullable or [],
            parity_tolerance=DEFAULT_TOLERANCE if parity_tolerance is None else parity_tolerance,
            allow_worse_than_baseline=allow_worse_than_baseline,
            data_source=dataset.source,
            data_sha256=dataset.sha256,
        )
        _print_summary(packaged)


def _build(factory: Any) -> Any:
    try:
        return factory()
    except Exception as error:  # the user's function can raise anything
        first_line = f"{type(error).__name__}: {error}".splitlines()[0]
        raise TrainingError(f"--pipeline: calling the function failed: {first_line}") from None


def _load_pickle(path: Path) -> Any:
    import sys

    import joblib

    try:
        data = path.read_bytes()
    except OSError as error:
        raise TrainingError(f"cannot read {path}: {error.strerror or error}") from None
    # The pickle names the user's modules (a custom transformer): import them from here, as
    # the notebook that saved it did.
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return joblib.load(io.BytesIO(data))
    except Exception as error:  # unpickling can raise anything
        first_line = f"{type(error).__name__}: {error}".splitlines()[0]
        raise TrainingError(f"cannot load {path} with joblib: {first_line}") from None


@contextmanager
def _printing_warnings() -> Iterator[None]:
    """mlvajra's warnings as `warning: ...` lines on stderr when they happen; others as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", MlvajraWarning)
        show = warnings.showwarning

        def _show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, MlvajraWarning):
                typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = _show
        yield


def _print_summary(packaged: Packaged) -> None:
    metrics = packaged.metrics
    cv = f", cv {metrics.cv_mean:.4f}" if metrics.cv_mean is not None else ""
    typer.echo(f"wrote {packaged.folder}")
    typer.echo(f"  {metrics.name}: {metrics.value:.4f}{cv}")
    for baseline in packaged.baselines:
        typer.echo(
            f"  baseline {baseline.name} ({baseline.estimator}): {baseline.metrics.value:.4f}"
        )
    parity = packaged.parity
    if parity is not None:
        diff = parity.max_abs_probability_diff
        if diff is None:
            diff = parity.max_abs_value_diff
        typer.echo(
            f"  parity on {parity.rows} rows: max |delta| {diff:.3g}, passed={parity.passed}"
        )
    reason = f" ({packaged.format_reason})" if packaged.format_reason else ""
    typer.echo(f"  format: {packaged.format}{reason}")


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
    if manifest.format == "joblib":
        from mlvajra.joblib_loading import check_loadable

        check_loadable(manifest)
        needs = manifest.loading.distributions if manifest.loading else {}
        typer.echo(f"joblib loads here: {', '.join(sorted(needs)) or 'scikit-learn'} installed")
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
