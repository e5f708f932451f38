"""The typed dependencies routes receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.artifact import Format, Manifest
from app.config import Settings
from app.errors import NotReadyError
from app.predictor import Predictor


@dataclass
class ServiceState:
    """Per-worker state: the settings, the manifest, and the predictor once loaded."""

    settings: Settings
    manifest: Manifest
    model_format: Format
    predictor: Predictor | None = None
    draining: bool = False


def get_state(request: Request) -> ServiceState:
    """The worker's state, set by `create_app`."""
    state: ServiceState = request.app.state.service
    return state


def get_predictor(request: Request) -> Predictor:
    """The loaded predictor, or 503 while the model is still loading."""
    predictor = get_state(request).predictor
    if predictor is None:
        raise NotReadyError("the model is not loaded yet")
    return predictor


StateDep = Annotated[ServiceState, Depends(get_state)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
