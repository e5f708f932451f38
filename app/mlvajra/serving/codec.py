"""The `/predict` wire format: a JSON body in, validated records, a JSON body out."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence, Set
from typing import Annotated, Any

import numpy as np
import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, from_json
from typing_extensions import TypedDict

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
    shorten,
)
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.predictor import Predictions, Predictor


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


class PredictCodec:
    """Decodes a /predict body into records, encodes predictions: strict, every problem named."""

    def __init__(
        self, predictor: Predictor, max_instances: int, live: LiveCounts | None = None
    ) -> None:
        self.predictor = predictor
        self.max_instances = max_instances
        self.live = live
        """Where accepted records are counted for drift (None: monitoring off or no profile)."""
        manifest = predictor.manifest
        record_type = build_record_type(manifest.inputs)
        # Stops at the first bad record: pydantic would otherwise build every error of a hostile
        # body (1,000 records x 400 unknown keys: 400,000 errors, seconds and 100s of MB).
        self.request_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(
            build_request_type(record_type, max_instances, fail_fast=True)
        )
        self.record_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(record_type)
        self._field_names = {spec.name for spec in manifest.inputs}
        # Every key is followed by a colon and every further value by a comma: a body with more
        # than a valid one can hold (or with colons and commas in its strings) skips pydantic's
        # parser, which took 2.6 s for one object of 700,000 keys (orjson: 0.2 s).
        self._max_separators = max_instances * (len(manifest.inputs) + 1) + 1
        # Keys, string values and "instances": more strings than that is no valid body.
        strings = sum(spec.type == "string" for spec in manifest.inputs)
        self._max_strings = max_instances * (len(manifest.inputs) + strings) + 1
        self._classes = [str(label) for label in manifest.classes or []]

    def decode(self, body: bytes | bytearray) -> list[dict[str, Any]]:
        """Parse and validate a /predict body; raise an `MlvajraError` naming the bad places."""
        limit = self._max_separators
        # Two counting passes on the hot path; only a body with more separators than a valid
        # one (or with them in its strings) is looked at closer.
        colons, commas = body.count(b":"), body.count(b",")
        if (colons > limit or commas > limit) and self._beyond_any_valid_body(body, colons, commas):
            raise PayloadTooLargeError(
                f"more values than {self.max_instances} records of the model's "
                f"{len(self._field_names)} inputs hold; refused unread"
            )
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
        # Each valid record holds exactly the model's inputs; "instances" is the one other key.
        duplicates = duplicate_keys(body, 1 + len(instances) * len(self._field_names))
        if duplicates:
            raise _duplicates_error(duplicates, self._field_names)
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

    def predict(self, body: bytes | bytearray) -> tuple[bytes, Predictions]:
        """A /predict body in, the response body out (and the raw predictions for metrics)."""
        records = self.decode(body)
        columns = self.predictor.columns(records)
        predictions = self.predictor.run_columns(columns)
        if self.live is not None:
            self.live.count(records, columns, predictions.labels)
        return self._encode(predictions), predictions

    def _encode(self, predictions: Predictions) -> bytes:
        manifest = self.predictor.manifest
        payload = {
            "model": {"name": manifest.name, "version": manifest.version},
            "predictions": self.prediction_objects(predictions),
        }
        # OPT_SERIALIZE_NUMPY writes float32 values at float32 precision (0.98, not 0.98000001907).
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)

    def warm_up(self) -> None:
        """Run one synthetic record through the whole path, so the first request is not slow.

        Not counted for drift: it is no client's record.
        """
        record = neutral_record(self.predictor.manifest.inputs)
        self._encode(self.predictor.run(self.decode(orjson.dumps({"instances": [record]}))))

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
        names = self._field_names
        problems: list[Problem] = []
        total = rows = 0
        unchecked: int | None = None  # the first row not looked at, once details are full
        for row, record in enumerate(instances):
            if len(problems) >= MAX_DETAILS:
                # The rest unread: each further bad record would cost as much as a valid one.
                unchecked = row
                break
            unknown = 0
            if isinstance(record, dict) and len(record) > len(names):
                # The extra keys never reach pydantic: counted, the first few named, and only
                # the model's own fields validated.
                known = {name: record[name] for name in names if name in record}
                unknown = len(record) - len(known)
                extra = (key for key in record if key not in names)
                record = known
            try:
                self.record_adapter.validate_python(record, strict=True)
                found = []
            except ValidationError as error:
                found = error.errors(include_input=False, include_url=False)
            if not found and not unknown:
                continue
            problems.extend(problem_at(("instances", row, *item["loc"]), item) for item in found)
            if unknown:
                room = max(0, MAX_DETAILS - len(problems))
                problems.extend(
                    Problem(row, shorten(str(key)), message_for("extra_forbidden"))
                    for key in itertools.islice(extra, room)
                )
            total += len(found) + unknown
            rows += 1
        if not problems:  # only a body the fast path would have taken; kept for safety
            return MalformedJSONError("the body is not valid JSON")
        capped = "at least " if unchecked is not None else ""
        message = f"{capped}{total} invalid value(s) in {capped}{rows} record(s)"
        if unchecked is not None:
            message += f" (records from row {unchecked} on not checked)"
        return InvalidInstancesError(
            message,
            [problem.as_detail() for problem in problems],
            field_counts(problems, self._field_names),
        )

    def _beyond_any_valid_body(self, body: bytes | bytearray, colons: int, commas: int) -> bool:
        """Whether the body's structure alone says no valid body looks like it, found at C speed.

        Parsing is what costs: orjson took 0.1 s and 100 MB for a list of 4 million zeros.
        `colons` and `commas` are the body's counts; those inside strings are not structure.
        """
        # Every string has an opening quote not preceded by a backslash: a lower bound on the
        # strings in the body. Twice what a valid body holds, so that one just over the cap
        # still gets the precise answer; this also bounds the walk below.
        quotes = body.count(b'"')
        if quotes // 2 > 2 * self._max_strings and (
            (quotes - body.count(b'\\"')) // 2 > 2 * self._max_strings
        ):
            return True
        opening = body.find(b'"')
        while opening != -1:
            closing = body.find(b'"', opening + 1)
            while closing != -1 and _escaped(body, opening + 1, closing):
                closing = body.find(b'"', closing + 1)
            if closing == -1:
                return False  # an unterminated string: the parser says so
            colons -= body.count(b":", opening + 1, closing)
            commas -= body.count(b",", opening + 1, closing)
            opening = body.find(b'"', closing + 1)
        limit = 2 * self._max_separators  # one colon per key, one comma between values
        return colons > limit or commas > limit


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


def _escaped(body: bytes | bytearray, start: int, quote: int) -> bool:
    """Whether the quote at `quote` follows an odd run of backslashes (not before `start`)."""
    width = 16
    while True:
        low = max(start, quote - width)
        chunk = body[low:quote]
        run = len(chunk) - len(chunk.rstrip(b"\\"))
        if run < len(chunk) or low == start:
            return run % 2 == 1
        width *= 4  # a long run: look further back, still at C speed


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


def problem_at(loc: tuple[int | str, ...], item: ErrorDetails) -> Problem:
    """Map a pydantic location (`instances`, row, field) to row and field."""
    message = message_for(item["type"], item["msg"])
    if len(loc) >= 2 and loc[0] == "instances" and isinstance(loc[1], int):
        field = shorten(str(loc[2])) if len(loc) > 2 else None
        return Problem(row=loc[1], field=field, message=message)
    field = shorten(".".join(str(part) for part in loc))
    return Problem(row=None, field=field or None, message=message)
