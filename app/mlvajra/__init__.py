"""mlvajra: put one trained scikit-learn pipeline into production and keep it right there.

`mlvajra.package(...)` and `mlvajra.train(...)` import scikit-learn and pandas only when called:
the serving install has neither, and imports this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlvajra.training.packaging import Packaged

try:
    __version__ = version("mlvajra")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = ["__version__", "package", "train"]


def package(
    fitted: Any,
    X_holdout: Any,
    y_holdout: Any,
    *,
    name: str,
    models_root: str | Path = "models",
    metric: str | None = None,
    task: Literal["classification", "regression"] | None = None,
    version: str | None = None,
    nullable: Sequence[str] = (),
    parity_tolerance: float | None = None,
    allow_worse_than_baseline: bool = False,
) -> Packaged:
    """Package a pipeline fitted elsewhere: scored on the held-out rows (a DataFrame, and labels
    or the name of their column) against the baselines, exported, parity-checked and written as
    the next version of `models_root/name/`. Raises one `MlvajraError` per refusal."""
    from mlvajra.training.export import DEFAULT_TOLERANCE
    from mlvajra.training.packaging import package as package_fitted

    return package_fitted(
        fitted,
        X_holdout,
        y_holdout,
        name=name,
        models_root=models_root,
        metric=metric,
        task=task,
        version=version,
        nullable=nullable,
        parity_tolerance=DEFAULT_TOLERANCE if parity_tolerance is None else parity_tolerance,
        allow_worse_than_baseline=allow_worse_than_baseline,
    )


def train(
    pipeline: Any = None,
    data: Any = None,
    *,
    target: str | None = None,
    name: str | None = None,
    models_root: str | Path = "models",
    metric: str | None = None,
    task: Literal["classification", "regression"] | None = None,
    version: str | None = None,
    drop: Sequence[str] = (),
    nullable: Sequence[str] = (),
    seed: int = 42,
    parity_tolerance: float | None = None,
    allow_worse_than_baseline: bool = False,
    feedback: str | Path | None = None,
    compare_with: str | Path | None = None,
) -> Packaged:
    """Fit an unfitted pipeline (None: mlvajra's built-in) on `data` (a DataFrame, or any path or
    URI `mlvajra train --data` reads; None: the built-in penguins): held-out split, CV,
    baselines, export, parity, the next version of `models_root/name/`."""
    from mlvajra.training.export import DEFAULT_TOLERANCE
    from mlvajra.training.trainer import TrainOptions
    from mlvajra.training.trainer import train as train_pipeline

    options = TrainOptions(
        data=data,
        target=target,
        name=name,
        models_root=Path(models_root),
        version=version,
        task=task,
        metric=metric,
        drop=list(drop),
        nullable=list(nullable),
        seed=seed,
        parity_tolerance=DEFAULT_TOLERANCE if parity_tolerance is None else parity_tolerance,
        allow_worse_than_baseline=allow_worse_than_baseline,
        feedback=None if feedback is None else Path(feedback),
        compare_with=None if compare_with is None else Path(compare_with),
    )
    return train_pipeline(options, pipeline)
