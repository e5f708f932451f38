"""Service settings, read from `MLVAJRA_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.artifact import Format

BYTES_PER_INSTANCE = 4096
"""Body budget per record: far above a real record, far below what would hurt a worker."""


class Settings(BaseSettings):
    """Everything the service reads at start; one artifact per process."""

    model_config = SettingsConfigDict(env_prefix="MLVAJRA_", frozen=True)

    model_dir: Path = Path("models/penguins/1")
    """The artifact version folder to serve (holds manifest.json)."""

    model_format: Format | None = None
    """`onnx` or `joblib`; default: the manifest's `format`."""

    max_instances: int = Field(default=1000, ge=1, le=100_000)
    """Most records accepted in one /predict request; more is a 413."""

    max_body_bytes: int | None = Field(default=None, ge=1024)
    """Largest /predict body in bytes; default: max_instances x 4 KiB."""

    onnx_threads: int = Field(default=1, ge=1)
    """onnxruntime intra-op threads per worker; keep workers x threads <= CPUs."""

    expose_errors: bool = False
    """Put exception text into 500 responses and logged tracebacks (debugging only: it can
    quote input values)."""

    drain_seconds: float = Field(default=0.0, ge=0.0, le=15.0)
    """After SIGTERM, keep serving this long with /ready answering 503 and `Connection: close` on
    every response, so a load balancer stops sending and a proxy reconnects elsewhere before the
    socket closes; keep it below gunicorn's graceful_timeout (20 s)."""

    docs: bool = True
    """Serve the OpenAPI UI at /docs and the schema at /openapi.json."""

    @property
    def body_limit(self) -> int:
        """`max_body_bytes` after its default is applied."""
        return self.max_body_bytes or self.max_instances * BYTES_PER_INSTANCE
