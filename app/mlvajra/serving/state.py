"""The per-worker state routes reach, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlvajra.artifact import Format, Manifest
from mlvajra.config import Settings
from mlvajra.errors import NotReadyError
from mlvajra.monitoring.export import Exporter
from mlvajra.monitoring.feedback import FeedbackStore
from mlvajra.serving.codec import PredictCodec
from mlvajra.serving.metrics import Tally

if TYPE_CHECKING:
    from starlette.requests import Request


@dataclass
class ServiceState:
    """Per-worker state: the settings, the manifest, and the model once loaded."""

    settings: Settings
    manifest: Manifest
    model_format: Format
    body_limit: int
    """Largest /predict body in bytes (`Settings.body_limit_for` the manifest's inputs)."""
    codec: PredictCodec | None = None
    exporter: Exporter | None = None
    """This worker's drift counts on their way to Prometheus (None: no monitoring)."""
    feedback: FeedbackStore | None = None
    """The label store under `MLVAJRA_STATE_DIR` (None: unset)."""
    draining: bool = False
    tally: Tally = field(default_factory=Tally)
    """This worker's request metrics (`mlvajra.serving.metrics.Tally`)."""

    def loaded_codec(self) -> PredictCodec:
        """The model's codec, or 503 while the model is still loading."""
        if self.codec is None:
            raise NotReadyError("the model is not loaded yet")
        return self.codec

    def settle_counts(self) -> None:
        """Count the predicted labels and the drift of the requests answered since the last call
        (`Tally.settle`, `mlvajra.monitoring.counting.LiveCounts.settle`): the service calls it
        after each response has left."""
        self.tally.settle()
        codec = self.codec
        if codec is not None and codec.live is not None:
            codec.live.settle()


def service_state(request: Request) -> ServiceState:
    """The worker's state, set by `create_app`.

    A plain call rather than `Depends`: FastAPI's dependency solver cost about 150 us per
    request here, more than validating and running the model for one record.
    """
    state: ServiceState = request.app.state.service
    return state
