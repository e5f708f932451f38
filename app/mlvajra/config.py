"""`Settings`: the only reader of the environment (`MLVAJRA_*`), gunicorn's values included."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from mlvajra.artifact import Format, InputSpec
from mlvajra.errors import ConfigError
from mlvajra.folder import read_manifest
from mlvajra.inputs import BODY_ENVELOPE_BYTES, record_json_bytes


class EnvironmentSettings(BaseModel):
    """A model whose fields not given to it are read from the environment: `MLVAJRA_<FIELD>`, in
    any case, or the names of a field's `validation_alias`; an empty variable counts as unset
    (compose passes `${VAR:-}` for "the default"). Values given win over the environment.

    What pydantic-settings did here, without its import: it was a fifth of the gunicorn master's
    start (its sources for dotenv, secrets, CLI and cloud vaults), and every value is a scalar.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        frozen=True, populate_by_name=True, extra="forbid", validate_default=True
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**(_environment_values(type(self).model_fields) | values))


def _environment_values(fields: dict[str, FieldInfo]) -> dict[str, str]:
    """Field name -> the first of its variables set (and not empty) in the environment."""
    environment = {name.upper(): value for name, value in os.environ.items() if value}
    found = {}
    for name, field in fields.items():
        alias = field.validation_alias
        names = (
            [str(choice).upper() for choice in alias.choices]
            if isinstance(alias, AliasChoices)
            else [f"MLVAJRA_{name.upper()}"]
        )
        for variable in names:
            if variable in environment:
                found[name] = environment[variable]
                break
    return found


class Settings(EnvironmentSettings):
    """Everything a service process reads at start; one artifact per process."""

    model_dir: Path = Path("models/penguins/1")
    """The artifact version folder to serve (holds manifest.json)."""

    model_format: Format | None = None
    """`onnx` or `joblib`; default: the manifest's `format`."""

    max_instances: int = Field(default=1000, ge=1, le=100_000)
    """Most records accepted in one /predict request; more is a 413."""

    max_body_bytes: int | None = Field(default=None, ge=1024)
    """Largest /predict body in bytes; default: max_instances x the longest valid record of the
    model's inputs (`mlvajra.inputs.record_json_bytes`)."""

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    """gunicorn worker processes; default: one per CPU."""

    onnx_threads: int | None = Field(default=None, ge=1)
    """onnxruntime intra-op threads per worker; default: CPUs / workers (at least 1)."""

    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("MLVAJRA_HOST", "HOST"))
    """Address gunicorn binds (`HOST` works too, as container platforms set it)."""

    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("MLVAJRA_PORT", "PORT")
    )
    """TCP port gunicorn binds (`PORT` works too)."""

    bind: str | None = None
    """A gunicorn bind address that replaces host and port (`unix:/path` or `host:port`)."""

    unix_socket: Path | None = None
    """Also listen on this unix socket: the stack's nginx reaches a color through it."""

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Also listen on `host:metrics_port`, answering only GET/HEAD /metrics, /health and /ready
    (404 for anything else): the port for Prometheus and probes beside a proxied unix socket."""

    log_level: str = Field(default="info", pattern="^(debug|info|warning|error|critical)$")
    """Log level of every logger; logs are JSON lines on stderr."""

    expose_errors: bool = False
    """Put exception text into 500 responses and logged tracebacks (debugging only: it can
    quote input values)."""

    drain_seconds: float = Field(default=0.0, ge=0.0, le=15.0)
    """After SIGTERM, keep serving this long with /ready answering 503 and `Connection: close` on
    every response, so a load balancer stops sending and a proxy reconnects elsewhere before the
    socket closes; keep it below gunicorn's graceful_timeout (20 s)."""

    model_name: str | None = Field(default=None, min_length=1, max_length=200)
    """The model's name on the V2 routes (`/v2/models/{name}`); default: the manifest's. KServe
    calls a model by its InferenceService name."""

    monitoring: bool = True
    """Count accepted records against the artifact's reference profile (drift metrics, /drift)."""

    monitoring_flush_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    """How often each worker moves its drift counts into the Prometheus counters."""

    state_dir: Path | None = None
    """Where ground-truth labels are kept (`<model name>.feedback.sqlite`), outside `models/`
    and shared by both colors; unset: POST /feedback answers 503."""

    prediction_log_sample: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of /predict requests whose inputs and predictions are logged in the state dir (by
    prediction id, for POST /feedback {"id", "label"}). Off by default: the log keeps clients'
    inputs on disk, and labels given with the record itself need no log."""

    docs: bool = True
    """Serve the OpenAPI UI at /docs and the schema at /openapi.json."""

    manifest_sha256: str | None = Field(default=None, pattern="^[0-9a-fA-F]{64}$")
    """The sha256 `manifest.json` must have: a deployment pins the exact manifest it approved
    (the stack sets it per release); a rewritten name, version or file list is refused."""

    signing_public_key: Path | None = None
    """PEM public key: refuse an artifact whose `manifest.sig` it does not verify (`mlvajra
    sign`; needs the `signing` extra)."""

    worker_user: str | None = Field(default=None, min_length=1)
    """Started as root, gunicorn runs its workers as this user and its primary group (the master
    stays root: it binds, verifies the artifact and hands the bytes over); ignored otherwise.
    The local stack sets it from MLVAJRA_STACK_USER."""

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port_is_not_the_service_port(
        cls, metrics_port: int | None, info: ValidationInfo
    ) -> int | None:
        main = _tcp_port(info.data.get("bind") or f"host:{info.data.get('port')}")
        if metrics_port is not None and metrics_port == main:
            raise PydanticCustomError(
                "same_port",
                "the metrics port must differ from the service's port ({port}), which serves "
                "everything",
                {"port": main},
            )
        return metrics_port

    def body_limit_for(self, inputs: list[InputSpec]) -> int:
        """`max_body_bytes`, or what `max_instances` of the longest valid records take."""
        return self.max_body_bytes or BODY_ENVELOPE_BYTES + self.max_instances * record_json_bytes(
            inputs
        )

    @property
    def body_limit(self) -> int:
        """The body limit of the artifact in `model_dir` (reads its manifest unless
        `max_body_bytes` is set)."""
        if self.max_body_bytes:
            return self.max_body_bytes
        return self.body_limit_for(read_manifest(self.model_dir).inputs)

    @property
    def threads(self) -> int:
        """onnxruntime threads per worker, so that workers x threads <= CPUs."""
        return self.onnx_threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def binds(self) -> list[str]:
        """Every address gunicorn listens on."""
        binds = [self.bind or f"{self.host}:{self.port}"]
        if self.unix_socket is not None:
            binds.append(f"unix:{self.unix_socket}")
        if self.metrics_port is not None:
            binds.append(f"{self.host}:{self.metrics_port}")
        return binds


def _tcp_port(address: str) -> int | None:
    """The port of a gunicorn bind `host:port`; None for `unix:/path` or `fd://N`."""
    if address.startswith(("unix:", "fd://")):
        return None
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


def load_settings(**overrides: object) -> Settings:
    """`Settings()` with a one-line `ConfigError` naming the variable instead of pydantic's text."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        where = name if name.isupper() else "MLVAJRA_" + name.upper()  # an alias is its own name
        raise ConfigError(f"{where}: {first['msg']}") from None


class StackSettings(EnvironmentSettings):
    """What `mlvajra stack` reads from the environment: the programs it runs."""

    nginx: str = "nginx"
    """The nginx binary (a name on PATH or a path)."""

    docker: str = "docker"
    """The docker CLI, for `--backend compose`."""

    stack_user: str = Field(default="nobody", min_length=1)
    """Started as root, the local stack runs nginx's and the colors' workers as this user and
    its primary group (`nobody`, `nogroup` on Debian)."""


def account(user: str, setting: str) -> tuple[int, int]:
    """The uid and primary gid of `user`, or a one-line `ConfigError` naming `setting`."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"{setting}: no user {user!r} on this machine") from None
    return entry.pw_uid, entry.pw_gid
