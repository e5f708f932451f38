"""The per-worker state routes reach, typed."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

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

    def loaded_predictor(self) -> Predictor:
        """The predictor, or 503 while the model is still loading."""
        if self.predictor is None:
            raise NotReadyError("the model is not loaded yet")
        return self.predictor


def service_state(request: Request) -> ServiceState:
    """The worker's state, set by `create_app`.

    A plain call rather than `Depends`: FastAPI's dependency solver cost about 150 us per
    request here, more than validating and running the model for one record.
    """
    state: ServiceState = request.app.state.service
    return state
