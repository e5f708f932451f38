"""The one error family: every refusal mlvajra makes is an `MlvajraError` with a one-line message.

Each class carries the HTTP status and stable code the service answers with, so the CLI prints
the message and the service renders the envelope from the same object. No web framework here:
batch scoring and Spark executors import this module too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MlvajraError(Exception):
    """A refusal with one line that says why, an HTTP status and a stable code."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, details: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = [dict(detail) for detail in details]


class ConfigError(MlvajraError):
    """A setting (`MLVAJRA_*`, a flag) has a value that cannot work."""

    code = "invalid_configuration"


class ArtifactError(MlvajraError):
    """The artifact cannot be served: missing file, bad manifest, hash mismatch."""

    code = "invalid_artifact"


class DataError(MlvajraError):
    """Data cannot be read or written."""

    status_code = 400
    code = "invalid_data"


class TrainingError(MlvajraError):
    """The data or options cannot give a model worth keeping."""

    status_code = 400
    code = "training_refused"


class VerificationError(MlvajraError):
    """An artifact's parity could not be checked."""

    code = "verification_failed"


class StackError(MlvajraError):
    """A step of the nginx + colors stack failed."""

    code = "stack_failed"


class MalformedJSONError(MlvajraError):
    """The body is not JSON."""

    status_code = 400
    code = "malformed_json"


class PayloadTooLargeError(MlvajraError):
    """Too many instances, or too many bytes."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(MlvajraError):
    """The body is not declared as JSON."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidInstancesError(MlvajraError):
    """The JSON parsed but records do not match the model's inputs."""

    status_code = 422
    code = "invalid_instances"

    def __init__(
        self,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
        field_counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.field_counts = dict(field_counts or {})


class NotReadyError(MlvajraError):
    """The model is not loaded yet, or the worker is draining."""

    status_code = 503
    code = "not_ready"


class InferenceError(MlvajraError):
    """The model raised on valid input; details are in the log, not the response."""

    status_code = 500
    code = "inference_failed"


class NotFoundError(MlvajraError):
    """A protocol route names a model or version this service does not serve."""

    status_code = 404
    code = "not_found"


class StoreUnavailableError(MlvajraError):
    """The feedback store cannot be written (unset, unwritable or full state dir)."""

    status_code = 503
    code = "store_unavailable"


class MlvajraWarning(UserWarning):
    """Something mlvajra accepted but you probably do not want; the message says what to do."""


class IdentifierColumnWarning(MlvajraWarning):
    """A column unique per row (an id) is about to become a required model input."""
