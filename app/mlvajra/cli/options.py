"""Options and choices more than one verb group takes."""

from __future__ import annotations

import enum
from typing import Annotated

import typer


class TaskKind(enum.StrEnum):
    """What the model predicts."""

    classification = "classification"
    regression = "regression"


class FormatKind(enum.StrEnum):
    """Which artifact file scores."""

    onnx = "onnx"
    joblib = "joblib"


TrustPickleOption = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Unpickle model.joblib: that runs code from the artifact; only for a trusted source.",
    ),
]
