"""The `/feedback` wire format: labels for records (or prediction ids), validated like /predict.

`{"feedback": [{"instance": {...}, "label": "Adelie"}, {"id": "...", "label": "Gentoo"}]}`:
each item names the record itself (checked exactly as /predict checks it) or an opaque
prediction id, and a label the model can give (one of its classes, or a finite number).
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import ValidationError

from mlvajra.errors import InvalidInstancesError, MalformedJSONError, PayloadTooLargeError
from mlvajra.inputs import MAX_DETAILS, Problem, shorten
from mlvajra.monitoring.feedback import Label
from mlvajra.serving.bounds import problem_at
from mlvajra.serving.codec import PredictCodec

MAX_ID_LENGTH = 200
_KEYS = {"id", "instance", "label", "source"}


class FeedbackCodec:
    """Turns a /feedback body into `Label`s, with what this version predicts for each record."""

    def __init__(self, codec: PredictCodec) -> None:
        self._codec = codec
        manifest = codec.predictor.manifest
        self._version = manifest.version
        self._classes = (
            {str(label): label for label in manifest.classes} if manifest.classes else None
        )

    def decode(self, body: bytes | bytearray) -> list[Label]:
        """Validate every item; raise one error naming each bad row and field."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise MalformedJSONError("the body is not valid JSON") from None
        items = document.get("feedback") if isinstance(document, dict) else None
        if not isinstance(items, list) or not items or len(document) != 1:
            detail = Problem(None, "feedback", 'the body must be {"feedback": [item, ...]}')
            raise InvalidInstancesError("no feedback items", [detail.as_detail()])
        if len(items) > self._codec.max_instances:
            raise PayloadTooLargeError(
                f"too many feedback items: at most {self._codec.max_instances} per request"
            )
        problems: list[Problem] = []
        labels: list[Label] = []
        records: list[tuple[int, dict[str, Any]]] = []
        for row, item in enumerate(items):
            found = self._item_problems(row, item)
            if not found and "instance" in item:
                try:
                    record = self._codec.record_adapter.validate_python(
                        item["instance"], strict=True
                    )
                    records.append((len(labels), record))
                except ValidationError as error:
                    found = [
                        problem_at(("instances", row, *entry["loc"]), entry)
                        for entry in error.errors(include_input=False, include_url=False)
                    ]
            problems.extend(found)
            if not found:
                labels.append(
                    Label(
                        label=str(item["label"]), version=self._version,
                        record=item.get("instance"), prediction_id=item.get("id"),
                        source=item.get("source"),
                    )
                )  # fmt: skip
            if len(problems) >= MAX_DETAILS:
                break
        if problems:
            rows = len({problem.row for problem in problems})
            raise InvalidInstancesError(
                f"{len(problems)} invalid value(s) in {rows} feedback item(s); nothing stored",
                [problem.as_detail() for problem in problems[:MAX_DETAILS]],
            )
        if records:
            predicted = self._codec.predictor.run([record for _, record in records]).labels
            for (index, _), value in zip(records, predicted.tolist(), strict=True):
                labels[index] = _with_prediction(labels[index], value)
        return labels

    def _item_problems(self, row: int, item: Any) -> list[Problem]:
        if not isinstance(item, dict):
            return [Problem(row, None, "a feedback item must be an object")]
        problems = [
            Problem(row, shorten(str(key)), "unknown field") for key in item if key not in _KEYS
        ]
        if "id" not in item and "instance" not in item:
            problems.append(Problem(row, "id", 'give "id" (a prediction id) or "instance"'))
        identifier = item.get("id")
        if identifier is not None and not (
            isinstance(identifier, str) and 0 < len(identifier) <= MAX_ID_LENGTH
        ):
            problems.append(Problem(row, "id", f"must be a string of 1 to {MAX_ID_LENGTH}"))
        source = item.get("source")
        if source is not None and not (isinstance(source, str) and len(source) <= 100):
            problems.append(Problem(row, "source", "must be a string of at most 100"))
        if "label" not in item:
            problems.append(Problem(row, "label", "required field is missing"))
        elif (message := self._label_problem(item["label"])) is not None:
            problems.append(Problem(row, "label", message))
        return problems

    def _label_problem(self, label: Any) -> str | None:
        if self._classes is not None:
            known = self._classes.get(str(label))
            if known is None or type(known) is not type(label):
                return f"must be one of the model's classes: {list(self._classes)}"
            return None
        if isinstance(label, bool) or not isinstance(label, int | float):
            return "must be a number"
        return None if math.isfinite(label) else "must be a finite number"


def _with_prediction(label: Label, predicted: Any) -> Label:
    return Label(
        label=label.label, version=label.version, record=label.record,
        prediction_id=label.prediction_id, predicted=str(predicted), source=label.source,
    )  # fmt: skip
