"""The `/predict` wire format: a JSON body in, validated records, a JSON body out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence, Set
from typing import Annotated, Any

import numpy.typing as npt
import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, from_json
from typing_extensions import TypedDict

from mlvajra.columnar import JsonBodies
from mlvajra.errors import InvalidInstancesError, MalformedJSONError, PayloadTooLargeError
from mlvajra.inputs import (
    MAX_DETAILS,
    RECORD,
    UNKNOWN_FIELD,
    Problem,
    build_record_type,
    duplicate_keys,
    message_for,
    neutral_record,
)
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.monitoring.prediction_log import PredictionLog
from mlvajra.predictor import Predictions, Predictor
from mlvajra.serving.answers import AnswerWriter
from mlvajra.serving.bounds import BodyBound, BoundedProblems, problem_at


def build_request_type(record_type: type, max_instances: int, fail_fast: bool = False) -> type:
    """The /predict body: 1..max_instances records (`fail_fast`: stop at the first bad one)."""
    instances = Annotated[
        list[record_type],  # type: ignore[valid-type]
        Field(min_length=1, max_length=max_instances, fail_fast=fail_fast),
    ]
    PredictRequest = TypedDict("PredictRequest", {"instances": instances})  # noqa: UP013
    PredictRequest.__doc__ = "Records to score, in the order the predictions come back."
    PredictRequest.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return PredictRequest


COLUMNAR_BYTES = 8192
"""Bodies this long (about `columnar.MIN_ROWS` penguin records) are first offered to
`columnar.accept`; shorter ones go to per-record validation alone, which is cheaper there."""


class PredictCodec:
    """Decodes a /predict body into records, encodes predictions: strict, every problem named."""

    def __init__(
        self,
        predictor: Predictor,
        max_instances: int,
        live: LiveCounts | None = None,
        log: PredictionLog | None = None,
    ) -> None:
        self.predictor = predictor
        self.max_instances = max_instances
        self.live = live
        """Where accepted records are counted for drift (None: monitoring off or no profile)."""
        self.log = log
        """Where a sample of the predictions goes, by id (None: MLVAJRA_PREDICTION_LOG_SAMPLE=0)."""
        manifest = predictor.manifest
        record_type = build_record_type(manifest.inputs)
        # Stops at the first bad record: pydantic would otherwise build every error of a hostile
        # body (1,000 records x 400 unknown keys: 400,000 errors, seconds and 100s of MB).
        self.request_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(
            build_request_type(record_type, max_instances, fail_fast=True)
        )
        self.record_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(record_type)
        self._inputs = manifest.inputs
        self._field_names = {spec.name for spec in manifest.inputs}
        self.bound = BodyBound(manifest.inputs, max_instances)
        self._json_bodies = JsonBodies(manifest.inputs, max_instances)
        self.classes = [str(label) for label in manifest.classes or []]
        """The class names, as the answers' probabilities name them."""
        self.answers = AnswerWriter(manifest.name, manifest.version, self.classes)

    def decode(
        self, body: bytes | bytearray
    ) -> tuple[Sequence[dict[str, Any]], dict[str, npt.NDArray[Any]]]:
        """Parse and validate a /predict body into records and their model columns; raise an
        `MlvajraError` naming the bad places."""
        self.bound.refuse_beyond(body)
        accepted: tuple[Sequence[dict[str, Any]], dict[str, npt.NDArray[Any]]] | None = None
        if len(body) >= COLUMNAR_BYTES:
            accepted = self._json_bodies.accept(body)
        if accepted is None:
            instances = self._judge(body)
            accepted = instances, self.predictor.columns(instances)
        # Each valid record holds exactly the model's inputs; "instances" is the one other key.
        duplicates = duplicate_keys(body, 1 + len(accepted[0]) * len(self._field_names))
        if duplicates:
            raise _duplicates_error(duplicates, self._field_names)
        return accepted

    def _judge(self, body: bytes | bytearray) -> list[dict[str, Any]]:
        """The records of a body `columnar.accept` did not take, or the error naming its problems
        (most such bodies have one)."""
        try:
            instances: list[dict[str, Any]] = self.request_adapter.validate_json(body)["instances"]
        except ValidationError as error:
            problems = error.errors(include_input=False, include_url=False)
            if any(item["type"] == "json_invalid" for item in problems):
                raise MalformedJSONError("the body is not valid JSON") from None
            if any(item["loc"] and item["loc"][0] != "instances" for item in problems) or any(
                len(item["loc"]) == 1 for item in problems
            ):
                raise self._request_error(problems) from None
            raise self._bounded_error(body) from None
        return instances

    def predict(self, body: bytes | bytearray, request_id: str) -> tuple[bytes, Predictions]:
        """A /predict body in, the response body out (and the raw predictions for metrics).

        Prediction `row` of the request gets the id `<request_id>:<row>`, the key POST /feedback
        takes.
        """
        records, columns = self.decode(body)
        predictions = run_counted(self.predictor, self.live, columns, records)
        if self.log is not None:
            ids = [f"{request_id}:{row}" for row in range(len(records))]
            self.log.offer(ids, records, predictions.labels)
        return self.answers.write(predictions, request_id), predictions

    def warm_up(self) -> None:
        """Run one synthetic record through the whole path, so the first request is not slow.

        Not counted for drift: it is no client's record.
        """
        record = neutral_record(self.predictor.manifest.inputs)
        _, columns = self.decode(orjson.dumps({"instances": [record]}))
        self.answers.write(self.predictor.run_columns(columns), "warm-up")

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

    def _bounded_error(self, body: bytes | bytearray) -> Exception:
        """The 422 for a body with many problems, at a cost bounded by the body's structure.

        Records are judged one at a time: the keys a record has beyond the model's inputs are
        counted, never validated, and checking stops once `MAX_DETAILS` problems are found.
        """
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            # orjson refuses what pydantic's parser reads as values to name: NaN, 1e400, 2**400.
            try:
                document = from_json(body, allow_inf_nan=True, cache_strings=False)
            except ValueError:
                return MalformedJSONError("the body is not valid JSON")
        shape = _shape_problem(document)
        if shape is not None:
            return InvalidInstancesError('the body must be {"instances": [record, ...]}', [shape])
        instances = document["instances"]
        if len(instances) > self.max_instances:
            return PayloadTooLargeError(
                f"too many instances: at most {self.max_instances} per request"
            )
        found = BoundedProblems(instances, self.record_adapter, self._field_names)
        if not found.problems:  # only a body the fast path would have taken; kept for safety
            return MalformedJSONError("the body is not valid JSON")
        return InvalidInstancesError(
            found.message(),
            [problem.as_detail() for problem in found.problems],
            field_counts(found.problems, self._field_names),
        )


def run_counted(
    predictor: Predictor,
    live: LiveCounts | None,
    columns: dict[str, npt.NDArray[Any]],
    records: Sequence[dict[str, Any]] | None = None,
) -> Predictions:
    """Score accepted input and count it for drift: every scoring route, whatever its protocol.

    `records` are the validated records when the route has them (cheaper to count for a few);
    without, the model `columns` are counted. Counted once the response has left
    (`LiveCounts.settle`, which `mlvajra.serving.asgi` calls after each request).
    """
    predictions = predictor.run_columns(columns)
    if live is not None:
        live.count_later(records, columns, predictions.labels)
    return predictions


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


def _duplicates_error(problems: list[Problem], field_names: Set[str]) -> Exception:
    rows = {problem.row for problem in problems if problem.row is not None}
    return InvalidInstancesError(
        f"{len(problems)} duplicate field(s) in {len(rows)} record(s)",
        [problem.as_detail() for problem in problems],
        field_counts(problems, field_names),
    )


def _shape_problem(document: Any) -> dict[str, Any] | None:
    """What is wrong with the body around the records, if anything (one detail, never more)."""
    if not isinstance(document, dict):
        return Problem(None, None, message_for("model_type")).as_detail()
    if "instances" not in document:
        return Problem(None, "instances", message_for("missing")).as_detail()
    if len(document) > 1:
        return Problem(None, None, f"{len(document) - 1} unknown top-level key(s)").as_detail()
    if not isinstance(document["instances"], list):
        return Problem(None, "instances", message_for("list_type")).as_detail()
    return None
