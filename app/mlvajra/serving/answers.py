"""The `/predict` response body, written a request at a time instead of an object per row.

`prediction_objects` says what the API answers: per record its label and class probabilities
(or its value) and its id. Building those dicts and serialising them cost more than
the model at 1,000 records. Here orjson writes the numbers of the whole batch in one call
(float32 at float32 precision, NaN as null, exactly as it writes each scalar) and one `%` of a
per-row template puts them in place. tests/serving/test_answers.py holds the bytes equal to
`orjson.dumps` of those objects (the explain page writes them so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from mlvajra.predictor import Predictions


def prediction_objects(
    predictions: Predictions, classes: Sequence[str], ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The API's per-record answers, in order (each with its id, when `ids` are given)."""
    if predictions.probabilities is None:
        answers = [{"value": value} for value in predictions.labels.astype(np.float64).tolist()]
    else:
        # Per-class columns of numpy scalars: cheaper to walk than one array view per row.
        by_class = [list(column) for column in predictions.probabilities.T]
        answers = [
            {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
            for label, row in zip(
                predictions.labels.tolist(), zip(*by_class, strict=True), strict=True
            )
        ]
    if ids is not None:
        for answer, identifier in zip(answers, ids, strict=True):
            answer["id"] = identifier
    return answers


def _literal(value: Any) -> bytes:
    """`value` as JSON, safe inside a `%` template."""
    return orjson.dumps(value).replace(b"%", b"%%")


def _numbers(array: Any) -> list[bytes]:
    """The JSON text of each number of `array`, flattened in row order."""
    flat = orjson.dumps(np.ascontiguousarray(array).ravel(), option=orjson.OPT_SERIALIZE_NUMPY)
    return flat[1:-1].split(b",")


class _Labels(dict[Any, bytes]):
    """Predicted label -> its JSON (a `%` argument, not template: no escaping), encoded once."""

    def __missing__(self, label: Any) -> bytes:
        encoded = self[label] = orjson.dumps(label)
        return encoded


class AnswerWriter:
    """Writes `{"model": ..., "predictions": [...]}` for one model's predictions."""

    def __init__(self, name: str, version: str, classes: Sequence[str]) -> None:
        model = orjson.dumps({"name": name, "version": version})
        self._head = b'{"model":' + model + b',"predictions":['
        probabilities = b",".join(_literal(label) + b":%s" for label in classes)
        self._classified = b'{"label":%s,"probabilities":{' + probabilities + b'},"id":"'
        self._valued = b'{"value":%s,"id":"'
        self._width = len(classes)
        self._labels = _Labels()

    def write(self, predictions: Predictions, request_id: str) -> bytes:
        """The body for `predictions`, prediction `row` with the id `<request_id>:<row>`."""
        rows = len(predictions.labels)
        # The id's JSON string without its quotes; the row number follows it.
        suffix = _literal(request_id)[1:-1] + b':%d"}'
        if predictions.probabilities is None:
            template = self._valued + suffix
            fields = 2
            values = _numbers(predictions.labels.astype(np.float64))
            arguments: list[Any] = [None] * (fields * rows)
            arguments[0::fields] = values
        else:
            template = self._classified + suffix
            width = self._width
            fields = width + 2
            labels = self._labels
            arguments = [None] * (fields * rows)
            arguments[0::fields] = [labels[label] for label in predictions.labels.tolist()]
            numbers = _numbers(predictions.probabilities)
            for column in range(width):
                arguments[1 + column :: fields] = numbers[column::width]
        arguments[fields - 1 :: fields] = range(rows)
        body: bytes = b",".join([template] * rows) % tuple(arguments)
        return self._head + body + b"]}"
