"""Validate records, run the model, shape the answers: shared by the API and the batch CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from app.artifact import MISSING_CATEGORY, Manifest, ModelRunner
from app.errors import (
    MAX_DETAILS,
    InvalidInstancesError,
    MalformedJSONError,
    PayloadTooLargeError,
)
from app.schemas import (
    MAX_STRING_LENGTH,
    build_record_type,
    build_request_type,
    neutral_record,
)

UNKNOWN_FIELD = "<unknown>"
"""Metric label for fields the model does not have (client-chosen names must not become labels)."""
RECORD = "<record>"
"""Metric label for a record that is not an object at all."""

_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "finite_number": "must be a finite number (not NaN or Infinity)",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a list of records",
    "too_short": "must hold at least one record",
    "greater_than_equal": "number out of range",
    "less_than_equal": "number out of range",
    "string_too_long": f"string longer than {MAX_STRING_LENGTH} characters",
}


MAX_FIELD_NAME = 100
"""Unknown field names are client-chosen: a longer one is cut so errors stay small."""


def _shorten(name: str) -> str:
    return name if len(name) <= MAX_FIELD_NAME else name[:MAX_FIELD_NAME] + "..."


@dataclass(frozen=True)
class Predictions:
    """Raw model output for a batch: labels (or values) and class probabilities."""

    labels: npt.NDArray[Any]
    probabilities: npt.NDArray[Any] | None


@dataclass(frozen=True)
class Problem:
    """One invalid value: row index, field name (or None for the whole record), reason."""

    row: int | None
    field: str | None
    message: str

    def as_detail(self) -> dict[str, Any]:
        """The envelope's `details` entry."""
        return {"row": self.row, "field": self.field, "message": self.message}


def message_for(error_type: str) -> str:
    """The client-facing sentence for a pydantic error type (the batch validation uses it too)."""
    return _MESSAGES.get(error_type, error_type)


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch judged column by column: rows that passed, their model input, others' problems."""

    valid: npt.NDArray[np.bool_]
    columns: dict[str, npt.NDArray[Any]]
    problems: list[Problem]

    @property
    def valid_rows(self) -> int:
        """How many rows passed."""
        return int(np.count_nonzero(self.valid))


class Predictor:
    """One loaded artifact: strict validation, columnar model input, typed predictions."""

    def __init__(self, manifest: Manifest, runner: ModelRunner, max_instances: int) -> None:
        self.manifest = manifest
        self.max_instances = max_instances
        record_type = build_record_type(manifest.inputs)
        self.record_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(record_type)
        self.request_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(
            build_request_type(record_type, max_instances)
        )
        self._runner = runner
        self._field_names = {spec.name for spec in manifest.inputs}
        self._classes = [str(label) for label in manifest.classes or []]

    def parse_request(self, body: bytes) -> list[dict[str, Any]]:
        """Parse and validate a /predict body; raise a `ServiceError` naming every bad place."""
        try:
            instances: list[dict[str, Any]] = self.request_adapter.validate_json(body)["instances"]
        except ValidationError as error:
            problems = error.errors(include_input=False, include_url=False)
            raise self._request_error(problems) from None
        return instances

    def validate_rows(
        self, rows: Sequence[Any]
    ) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
        """Validate each row alone: (valid records, their row indexes, problems of the others)."""
        records: list[dict[str, Any]] = []
        kept: list[int] = []
        problems: list[Problem] = []
        for index, row in enumerate(rows):
            try:
                records.append(self.record_adapter.validate_python(row))
                kept.append(index)
            except ValidationError as error:
                for item in error.errors(include_input=False, include_url=False):
                    problems.append(self._problem(("instances", index, *item["loc"]), item))
        return records, kept, problems

    def columns(self, records: Sequence[dict[str, Any]]) -> dict[str, npt.NDArray[Any]]:
        """One (rows, 1) array per input: float64 numbers (null -> NaN), text (null -> marker)."""
        columns: dict[str, npt.NDArray[Any]] = {}
        for spec in self.manifest.inputs:
            values = [record[spec.name] for record in records]
            if spec.type == "string":
                array = np.array(
                    [MISSING_CATEGORY if value is None else value for value in values],
                    dtype=object,
                )
            else:
                # None becomes NaN here, which the pipeline's imputer fills.
                array = np.array(values, dtype=np.float64)
            columns[spec.name] = array.reshape(-1, 1)
        return columns

    def run(self, records: Sequence[dict[str, Any]]) -> Predictions:
        """Score validated records."""
        return self.run_columns(self.columns(records))

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

    def predict_json(self, body: bytes) -> tuple[bytes, Predictions]:
        """A /predict body in, the response body out (and the raw predictions for metrics)."""
        predictions = self.run(self.parse_request(body))
        payload = {
            "model": {"name": self.manifest.name, "version": self.manifest.version},
            "predictions": self.prediction_objects(predictions),
        }
        # OPT_SERIALIZE_NUMPY writes float32 values at float32 precision (0.98, not 0.98000001907).
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), predictions

    def warm_up(self) -> None:
        """Run one synthetic record through the whole path, so the first request is not slow."""
        self.predict_json(orjson.dumps({"instances": [neutral_record(self.manifest.inputs)]}))

    def validate_columns(self, batch: Any, untyped_text: bool = False) -> ValidatedBatch:
        """Judge an Arrow batch column by column, with `validate_rows`' decisions and messages."""
        # Imported here: pyarrow is a batch dependency, not in the serving image.
        from app.columnar import validate_batch

        return validate_batch(self.manifest.inputs, batch, untyped_text)

    def run_columns(self, columns: dict[str, npt.NDArray[Any]]) -> Predictions:
        """Score model input columns that passed validation (`validate_columns().columns`)."""
        labels, probabilities = self._runner.run(columns)
        return Predictions(labels=labels, probabilities=probabilities)

    def _request_error(self, errors: list[ErrorDetails]) -> Exception:
        if any(item["type"] == "json_invalid" for item in errors):
            return MalformedJSONError("the body is not valid JSON")
        if any(item["loc"] == ("instances",) and item["type"] == "too_long" for item in errors):
            return PayloadTooLargeError(
                f"too many instances: at most {self.max_instances} per request"
            )
        problems = [self._problem(item["loc"], item) for item in errors]
        rows = {problem.row for problem in problems if problem.row is not None}
        message = (
            f"{len(problems)} invalid value(s) in {len(rows)} record(s)"
            if rows
            else 'the body must be {"instances": [record, ...]}'
        )
        return InvalidInstancesError(
            message,
            [problem.as_detail() for problem in problems[:MAX_DETAILS]],
            self._field_counts(problems),
        )

    def _problem(self, loc: tuple[int | str, ...], item: ErrorDetails) -> Problem:
        """Map a pydantic location (`instances`, row, field) to row and field."""
        message = _MESSAGES.get(item["type"], item["msg"])
        if len(loc) >= 2 and loc[0] == "instances" and isinstance(loc[1], int):
            field = _shorten(str(loc[2])) if len(loc) > 2 else None
            return Problem(row=loc[1], field=field, message=message)
        field = _shorten(".".join(str(part) for part in loc))
        return Problem(row=None, field=field or None, message=message)

    def _field_counts(self, problems: Sequence[Problem]) -> Counter[str]:
        """Bad values per field, client-chosen names folded into one label (bounded cardinality)."""
        counts: Counter[str] = Counter()
        for problem in problems:
            if problem.row is None:
                continue
            if problem.field is None:
                counts[RECORD] += 1
            else:
                known = problem.field in self._field_names
                counts[problem.field if known else UNKNOWN_FIELD] += 1
        return counts
