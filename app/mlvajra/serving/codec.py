"""The `/predict` wire format: a JSON body in, validated records, a JSON body out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence, Set
from typing import Annotated, Any

import numpy as np
import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from mlvajra.errors import InvalidInstancesError, MalformedJSONError, PayloadTooLargeError
from mlvajra.inputs import (
    MAX_DETAILS,
    RECORD,
    UNKNOWN_FIELD,
    Problem,
    build_record_type,
    message_for,
    neutral_record,
    shorten,
)
from mlvajra.predictor import Predictions, Predictor


def build_request_type(record_type: type, max_instances: int) -> type:
    """The /predict body: 1..max_instances records."""
    instances = Annotated[list[record_type], Field(min_length=1, max_length=max_instances)]  # type: ignore[valid-type]
    PredictRequest = TypedDict("PredictRequest", {"instances": instances})  # noqa: UP013
    PredictRequest.__doc__ = "Records to score, in the order the predictions come back."
    PredictRequest.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return PredictRequest


class PredictCodec:
    """Decodes a /predict body into records, encodes predictions: strict, every problem named."""

    def __init__(self, predictor: Predictor, max_instances: int) -> None:
        self.predictor = predictor
        self.max_instances = max_instances
        manifest = predictor.manifest
        self.request_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(
            build_request_type(build_record_type(manifest.inputs), max_instances)
        )
        self._field_names = {spec.name for spec in manifest.inputs}
        self._classes = [str(label) for label in manifest.classes or []]

    def decode(self, body: bytes) -> list[dict[str, Any]]:
        """Parse and validate a /predict body; raise an `MlvajraError` naming every bad place."""
        try:
            instances: list[dict[str, Any]] = self.request_adapter.validate_json(body)["instances"]
        except ValidationError as error:
            problems = error.errors(include_input=False, include_url=False)
            raise self._request_error(problems) from None
        return instances

    def prediction_objects(self, predictions: Predictions) -> list[dict[str, Any]]:
        """The API's per-record answers, in order."""
        if predictions.probabilities is None:
            return [{"value": value} for value in predictions.labels.astype(np.float64).tolist()]
        classes = self._classes
        # Per-class columns of numpy scalars: cheaper to walk than one array view per row.
        by_class = [list(column) for column in predictions.probabilities.T]
        return [
            {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
            for label, row in zip(
                predictions.labels.tolist(), zip(*by_class, strict=True), strict=True
            )
        ]

    def predict(self, body: bytes) -> tuple[bytes, Predictions]:
        """A /predict body in, the response body out (and the raw predictions for metrics)."""
        predictions = self.predictor.run(self.decode(body))
        manifest = self.predictor.manifest
        payload = {
            "model": {"name": manifest.name, "version": manifest.version},
            "predictions": self.prediction_objects(predictions),
        }
        # OPT_SERIALIZE_NUMPY writes float32 values at float32 precision (0.98, not 0.98000001907).
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), predictions

    def warm_up(self) -> None:
        """Run one synthetic record through the whole path, so the first request is not slow."""
        record = neutral_record(self.predictor.manifest.inputs)
        self.predict(orjson.dumps({"instances": [record]}))

    def _request_error(self, errors: list[ErrorDetails]) -> Exception:
        if any(item["type"] == "json_invalid" for item in errors):
            return MalformedJSONError("the body is not valid JSON")
        if any(item["loc"] == ("instances",) and item["type"] == "too_long" for item in errors):
            return PayloadTooLargeError(
                f"too many instances: at most {self.max_instances} per request"
            )
        problems = [problem_at(item["loc"], item) for item in errors]
        rows = {problem.row for problem in problems if problem.row is not None}
        message = (
            f"{len(problems)} invalid value(s) in {len(rows)} record(s)"
            if rows
            else 'the body must be {"instances": [record, ...]}'
        )
        return InvalidInstancesError(
            message,
            [problem.as_detail() for problem in problems[:MAX_DETAILS]],
            field_counts(problems, self._field_names),
        )


def field_counts(problems: Sequence[Problem], field_names: Set[str]) -> Counter[str]:
    """Bad values per field, client-chosen names folded into one label (bounded cardinality)."""
    counts: Counter[str] = Counter()
    for problem in problems:
        if problem.row is None:
            continue
        if problem.field is None:
            counts[RECORD] += 1
        else:
            known = problem.field in field_names
            counts[problem.field if known else UNKNOWN_FIELD] += 1
    return counts


def problem_at(loc: tuple[int | str, ...], item: ErrorDetails) -> Problem:
    """Map a pydantic location (`instances`, row, field) to row and field."""
    message = message_for(item["type"], item["msg"])
    if len(loc) >= 2 and loc[0] == "instances" and isinstance(loc[1], int):
        field = shorten(str(loc[2])) if len(loc) > 2 else None
        return Problem(row=loc[1], field=field, message=message)
    field = shorten(".".join(str(part) for part in loc))
    return Problem(row=None, field=field or None, message=message)
