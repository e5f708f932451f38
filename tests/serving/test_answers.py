"""`mlvajra.serving.answers`: the fast body is byte for byte `orjson.dumps` of the API's objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlvajra.predictor import Predictions
from mlvajra.serving.answers import AnswerWriter, prediction_objects

# Class names a JSON template could trip on: quotes, escapes, `%`, commas, colons, non-ASCII.
AWKWARD = ['say "hi"', "back\\slash", "100%", "a,b", "c:d", "Gentoo \u00e9", "%s", "%d"]
FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)


def _objects_body(predictions: Predictions, classes: list[str], request_id: str) -> bytes:
    rows = range(len(predictions.labels))
    payload = {
        "model": {"name": "m", "version": "1"},
        "predictions": prediction_objects(
            predictions, classes, [f"{request_id}:{row}" for row in rows]
        ),
    }
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _both(predictions: Predictions, classes: list[str], request_id: str = "r-1") -> bytes:
    written = AnswerWriter("m", "1", classes).write(predictions, request_id)
    assert written == _objects_body(predictions, classes, request_id)
    return written


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    width=st.integers(1, 4),
    rows=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_probabilities_match_the_objects(
    data: st.DataObject, width: int, rows: int, dtype: Any
) -> None:
    classes = data.draw(st.lists(st.sampled_from(AWKWARD), min_size=width, max_size=width))
    classes = list(dict.fromkeys(classes)) or ["only"]
    width = len(classes)
    probabilities = data.draw(arrays(dtype, (rows, width), elements=FLOATS))
    labels = np.array(data.draw(st.lists(st.sampled_from(classes), min_size=rows, max_size=rows)))
    _both(Predictions(labels.astype(object), probabilities), classes)


@settings(max_examples=100, deadline=None)
@given(values=arrays(np.float32, st.integers(1, 50), elements=FLOATS))
def test_values_match_the_objects(values: Any) -> None:
    body = _both(Predictions(values, None), [])
    assert orjson.loads(body)["predictions"][0]["id"] == "r-1:0"


@pytest.mark.parametrize(
    "labels", [np.array([0, 1, 1]), np.array([True, False, True]), np.array(["x", "y", "x"])]
)
def test_labels_keep_their_json_type(labels: Any) -> None:
    classes = [str(label) for label in dict.fromkeys(labels.tolist())]
    probabilities = np.full((3, len(classes)), 0.5, dtype=np.float32)
    body = _both(Predictions(labels, probabilities), classes)
    assert [p["label"] for p in orjson.loads(body)["predictions"]] == labels.tolist()


def test_a_request_id_is_escaped_and_every_row_numbered() -> None:
    probabilities = np.array([[0.25, 0.75]] * 3, dtype=np.float32)
    predictions = Predictions(np.array(["a", "b", "b"], dtype=object), probabilities)
    body = _both(predictions, ["a", "b"], request_id='odd "id" 100%')
    ids = [p["id"] for p in orjson.loads(body)["predictions"]]
    assert ids == ['odd "id" 100%:0', 'odd "id" 100%:1', 'odd "id" 100%:2']


def test_probabilities_of_the_wrong_width_are_refused() -> None:
    predictions = Predictions(np.array(["a"], dtype=object), np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="sequence of size"):
        AnswerWriter("m", "1", ["a", "b"]).write(predictions, "r")
