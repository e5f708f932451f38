"""The bodies `bench/abuse.py` sends: a valid 1,000-record request and the worst hostile bodies
per route (/predict, V2 infer, MLflow /invocations) that fit the limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from mlvajra.artifact import InputSpec
from mlvajra.config import Settings
from mlvajra.folder import read_manifest
from mlvajra.inputs import MAX_STRING_LENGTH
from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS

RECORD = REFERENCE_ROWS[0][0]
JSON = "application/json"


class Body(NamedTuple):
    """One request to send: path, content type and bytes."""

    path: str
    content_type: str
    data: bytes


def _filler(limit: int) -> Callable[[bytes, Callable[[int], bytes], bytes], bytes]:
    def fill(prefix: bytes, item: Callable[[int], bytes], suffix: bytes) -> bytes:
        """As many items as fit in the body limit."""
        size = len(item(0)) + 1
        room = (limit - len(prefix) - len(suffix)) // size
        return prefix + b",".join(item(i) for i in range(room)) + suffix

    return fill


def _predict(inputs: list[InputSpec], count: int, limit: int) -> dict[str, Body]:
    fill = _filler(limit)

    def records(record: dict[str, object]) -> Body:
        data = json.dumps({"instances": [record] * count}, ensure_ascii=False).encode()
        return Body("/predict", JSON, data)

    longest = {
        spec.name: "\U0001f427" * MAX_STRING_LENGTH if spec.type == "string" else 0
        for spec in inputs
    }
    keys = 2 * count * (len(inputs) + 2)
    return {
        "valid 1,000 records": records(RECORD),
        "valid, longest strings": records(longest),
        "valid, a colon in every string": records(
            {**RECORD, **{spec.name: "a:b" for spec in inputs if spec.type == "string"}}
        ),
        # Every record repeats its first key: the duplicate-key pass names 100 of them.
        "a duplicate key in every record": Body(
            "/predict",
            JSON,
            records(RECORD).data.replace(
                b'{"%s":' % inputs[0].name.encode(),
                b'{"%s":0,"%s":' % (inputs[0].name.encode(), inputs[0].name.encode()),
            ),
        ),
        "7 unknown keys a record": records({f"x{i}": 1 for i in range(len(inputs))}),
        "every value the wrong type": records({spec.name: [] for spec in inputs}),
        "one record, keys to the limit": Body(
            "/predict", JSON, fill(b'{"instances":[{', lambda i: b'"%07d":0' % i, b"}]}")
        ),
        "one record, keys under the string bound": Body(
            "/predict",
            JSON,
            b'{"instances":[{' + b",".join(b'"k%d":0' % i for i in range(keys)) + b"}]}",
        ),
        "one field, a list to the limit": Body(
            "/predict", JSON, fill(b'{"instances":[{"x":[', lambda i: b"0", b"]}]}")
        ),
    }


def _v2(model: str, inputs: list[InputSpec], count: int, limit: int) -> dict[str, Body]:
    fill = _filler(limit)
    path = f"/v2/models/{model}/infer"

    def tensors(value: Callable[[InputSpec], object]) -> bytes:
        return json.dumps(
            {
                "inputs": [
                    {
                        "name": spec.name,
                        "shape": [count, 1],
                        "datatype": PENGUIN_DATATYPES.get(spec.name, "FP32"),
                        "data": [value(spec)] * count,
                    }
                    for spec in inputs
                ]
            }
        ).encode()

    return {
        "v2: valid 1,000 rows": Body(path, JSON, tensors(lambda spec: RECORD[spec.name])),
        "v2: every value the wrong type": Body(path, JSON, tensors(lambda spec: [])),
        "v2: unknown tensors to the limit": Body(
            path,
            JSON,
            fill(
                b'{"inputs":[',
                lambda i: b'{"name":"x%07d","shape":[1],"datatype":"FP32","data":[0]}' % i,
                b"]}",
            ),
        ),
        "v2: outputs to the limit": Body(
            path,
            JSON,
            fill(
                tensors(lambda spec: RECORD[spec.name])[:-1] + b',"outputs":[',
                lambda i: b'{"name":"x%07d"}' % i,
                b"]}",
            ),
        ),
        "v2: one tensor's data to the limit": Body(
            path,
            JSON,
            fill(
                b'{"inputs":[{"name":"year","shape":[1],"datatype":"INT64","data":[',
                lambda i: b"0",
                b"]}]}",
            ),
        ),
    }


def _mlflow(inputs: list[InputSpec], count: int, limit: int) -> dict[str, Body]:
    fill = _filler(limit)
    names = [spec.name for spec in inputs]

    def split(columns: list[str], row: list[object]) -> Body:
        data = json.dumps({"dataframe_split": {"columns": columns, "data": [row] * count}})
        return Body("/invocations", JSON, data.encode())

    wide = [f"x{i}" for i in range(limit // (4 * count))]
    return {
        "mlflow: valid 1,000 records": Body(
            "/invocations", JSON, json.dumps({"dataframe_records": [RECORD] * count}).encode()
        ),
        "mlflow: 7 unknown keys a record": Body(
            "/invocations",
            JSON,
            json.dumps(
                {"dataframe_records": [{f"x{i}": 1 for i in range(len(inputs))}] * count}
            ).encode(),
        ),
        "mlflow: every value the wrong type, NaN": split(names, [float("nan")] * len(names)),
        "mlflow: wide split": split(wide, [0] * len(wide)),
        "mlflow: csv, wide rows": Body(
            "/invocations",
            "text/csv",
            (",".join(wide) + "\n" + ("\n".join([",".join("0" * len(wide))] * count))).encode(),
        ),
        "mlflow: one list to the limit": Body(
            "/invocations", JSON, fill(b'{"instances":[', lambda i: b"0", b"]}")
        ),
    }


def bodies(model_dir: Path) -> tuple[int, dict[str, Body]]:
    """The body limit and the bodies to compare; the first is the valid reference."""
    settings = Settings(model_dir=model_dir)
    manifest = read_manifest(model_dir)
    limit, count = settings.body_limit, settings.max_instances
    built = {
        **_predict(manifest.inputs, count, limit),
        **_v2(manifest.name, manifest.inputs, count, limit),
        **_mlflow(manifest.inputs, count, limit),
    }
    assert all(len(body.data) <= limit for body in built.values()), "every body fits the limit"
    return limit, built
