"""V2 input tensors -> one column of plain values per manifest input (JSON data or binary).

`TensorReader` checks only what is V2's own: names, datatypes, shapes, data lengths, binary
sizes; the values are judged afterwards by the /predict record rules (`RecordRules`), or a column
at a time (`columnar.accept_columns`). `PlainRequests` takes the common small JSON request whole,
its values typed as `columnar` types them, and leaves any other to those two.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Union

import msgspec
import numpy.typing as npt
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.columnar import JSON_TYPES
from mlvajra.inputs import MAX_DETAILS, Problem, duplicate_keys, message_for, shorten
from mlvajra.serving.protocols.records import RecordRules, invalid
from mlvajra.serving.protocols.v2_binary import NUMPY_TYPES, BinaryTensorError, decode_tensor

_INTEGER_TYPES = frozenset(name for name in NUMPY_TYPES if "INT" in name)
_ACCEPTED = {
    "number": _INTEGER_TYPES | {"FP16", "FP32", "FP64"},
    "integer": _INTEGER_TYPES,
    "string": frozenset({"BYTES"}),
    "boolean": frozenset({"BOOL"}),
}
# What model metadata advertises: the ONNX graph computes numbers in float32.
ADVERTISED = {"number": "FP32", "integer": "INT64", "string": "BYTES", "boolean": "BOOL"}
# Keys the protocol does not name (KServe's `model_name`) are accepted and left out of the
# validated request, which is only read here: a third cheaper than copying them along.
_CONFIG = ConfigDict(extra="ignore", strict=True)
Shape = list[Annotated[int, Field(ge=0)]]
Values = list[Any] | npt.NDArray[Any]
"""One input's values: JSON data or BYTES as a list, a fixed-size binary tensor as an array."""


class RequestInput(TypedDict):
    """One input tensor: a column of the model."""

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    name: str
    shape: Shape
    datatype: str
    parameters: NotRequired[dict[str, Any]]
    data: NotRequired[list[Any]]


class RequestOutput(TypedDict):
    """An output asked for by name."""

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    name: str
    parameters: NotRequired[dict[str, Any]]


class InferenceRequest(TypedDict):
    """The V2 inference request (extra keys, such as KServe's `model_name`, are accepted)."""

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    id: NotRequired[str]
    parameters: NotRequired[dict[str, Any]]
    inputs: list[RequestInput]
    outputs: NotRequired[list[RequestOutput]]


class TensorReader:
    """Reads a request's input tensors as the model's columns."""

    def __init__(self, manifest: Manifest, rules: RecordRules) -> None:
        self._inputs = manifest.inputs
        self._specs = {spec.name: spec for spec in manifest.inputs}
        self._rules = rules

    def columns(
        self, tensors: list[RequestInput], tail: memoryview | None
    ) -> tuple[list[Values], bool]:
        """One column of values per manifest input, in manifest order (a list, or the numpy array
        of a fixed-size binary tensor); whether any came in binary."""
        problems: list[Problem] = []
        found: dict[str, Values] = {}
        rows: int | None = None
        offset = 0
        for tensor in tensors:
            name = tensor["name"]
            parameters = tensor.get("parameters")
            size = None if parameters is None else parameters.get("binary_data_size")
            raw = None
            if size is not None:
                if tail is None or type(size) is not int or size < 0 or offset + size > len(tail):
                    message = "binary_data_size exceeds the binary data"
                    problems.append(Problem(None, shorten(name), message))
                    continue
                raw = tail[offset : offset + size]
                offset += size
            spec = self._specs.get(name)
            if spec is None:
                problems.append(Problem(None, shorten(name), message_for("extra_forbidden")))
                continue
            if name in found:
                problems.append(Problem(None, name, "input given more than once"))
                continue
            accepted = _ACCEPTED[spec.type]
            datatype, shape = tensor["datatype"], tensor["shape"]
            if datatype not in accepted:
                allowed = ", ".join(sorted(accepted))
                message = f"datatype {shorten(datatype)} does not fit type {spec.type} ({allowed})"
                problems.append(Problem(None, name, message))
                continue
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                problems.append(Problem(None, name, "shape must be [N] or [N, 1]"))
                continue
            count = shape[0]
            self._rules.check_count(count)
            if rows is not None and count != rows:
                message = f"shape[0] is {count}, other inputs have {rows} rows"
                problems.append(Problem(None, name, message))
                continue
            rows = count
            try:
                values = self._values(tensor, raw, count)
            except BinaryTensorError as error:
                problems.append(Problem(None, name, str(error)))
                continue
            if datatype in _INTEGER_TYPES and spec.type == "number" and type(values) is list:
                problems += [
                    Problem(row, name, f"must be an integer (datatype {datatype})")
                    for row, value in enumerate(values)
                    if isinstance(value, float)
                ][:MAX_DETAILS]
            found[name] = values
        if tail is not None and offset != len(tail) and not problems:
            message = f"the binary data is {len(tail)} bytes, the inputs declare {offset}"
            problems.append(Problem(None, None, message))
        for spec in self._inputs:
            if spec.name not in found and not any(p.field == spec.name for p in problems):
                problems.append(Problem(None, spec.name, "required input is missing"))
        if problems:
            raise invalid(problems, "the inputs do not match the model's inputs", set(self._specs))
        columns = [found[spec.name] for spec in self._inputs]
        return columns, tail is not None and offset > 0

    @staticmethod
    def _values(tensor: RequestInput, raw: memoryview | None, count: int) -> Values:
        if raw is not None:
            if "data" in tensor:
                raise BinaryTensorError("both data and binary_data_size are given")
            return decode_tensor(raw, tensor["datatype"], count)
        if "data" not in tensor:
            raise BinaryTensorError("data is missing")
        data = tensor["data"]
        if data and isinstance(data[0], list):
            data = [value for row in data for value in (row if isinstance(row, list) else [row])]
        if len(data) != count:
            raise BinaryTensorError(f"data holds {len(data)} value(s), shape[0] says {count}")
        return data


PLAIN_BYTES = 8192
"""JSON bodies shorter than this (tens of penguin rows) are offered to `PlainRequests` first;
longer ones hold enough rows for the vectorised checks (`columnar.accept_columns`)."""


class PlainRequests:
    """The common small JSON request, parsed and judged in one msgspec pass: only the protocol's
    keys, every input once as JSON data in a datatype of its own type, shape [N] or [N, 1] for N
    values, each value valid as /predict's (`mlvajra.columnar`'s types).

    `read` gives what `loads_allowing_nan`, `TensorReader.columns` and `RecordRules.validate`
    would have accepted, or None for anything else (other keys, nested data, an integer datatype
    for a number, NaN, a duplicate key, any bad value): the general path then judges it and names
    every problem. tests/serving/protocols/test_v2_plain.py holds both paths to the same answers.
    """

    def __init__(self, manifest: Manifest, max_instances: int) -> None:
        self._inputs = manifest.inputs
        self._names = [spec.name for spec in manifest.inputs]
        # Each input's tensor type, tagged by its name: the type tells the input.
        self._tensor_names = {
            _plain_tensor(spec, max_instances): spec.name for spec in manifest.inputs
        }
        tensors: Any = Union[tuple(self._tensor_names)]  # noqa: UP007
        inputs = len(self._names)
        request = msgspec.defstruct(
            "PlainRequest",
            [
                (
                    "inputs",
                    Annotated[list[tensors], msgspec.Meta(min_length=inputs, max_length=inputs)],
                ),
                ("id", str | msgspec.UnsetType, msgspec.UNSET),
                ("parameters", dict[str, Any] | msgspec.UnsetType, msgspec.UNSET),
                ("outputs", list[_PlainOutput] | msgspec.UnsetType, msgspec.UNSET),
            ],
            forbid_unknown_fields=True,
        )
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(request)

    def read(
        self, body: bytes
    ) -> tuple[InferenceRequest, list[list[Any]], list[dict[str, Any]]] | None:
        """(the request, one column per manifest input in its order, the rows as records)."""
        try:
            decoded = self._decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        found = {self._tensor_names[type(tensor)]: tensor for tensor in decoded.inputs}
        if len(found) != len(self._names):
            return None  # an input given twice, so another missing
        rows = None
        for tensor in decoded.inputs:
            shape, count = tensor.shape, len(tensor.data)
            if (
                shape[0] != count
                or (len(shape) == 2 and shape[1] != 1)
                or rows not in (None, count)
            ):
                return None
            rows = count
        request: dict[str, Any] = {}
        keys = 1 + 4 * len(found)  # "inputs", and each tensor's name, shape, datatype and data
        if decoded.id is not msgspec.UNSET:
            request["id"] = decoded.id
            keys += 1
        if decoded.parameters is not msgspec.UNSET:
            request["parameters"] = decoded.parameters
            keys += 1 + _keys(decoded.parameters)
        if decoded.outputs is not msgspec.UNSET:
            request["outputs"] = [_output(output) for output in decoded.outputs]
            keys += 1 + sum(
                len(output) + _keys(output.get("parameters")) for output in request["outputs"]
            )
        if duplicate_keys(body, keys):
            return None  # the general path names them
        columns = [found[name].data for name in self._names]
        for spec, values in zip(self._inputs, columns, strict=True):
            if spec.type == "integer" and not all(
                type(v) is not float or v.is_integer() for v in values
            ):
                return None  # 2007.5 is no integer: named by the general path
        records = [dict(zip(self._names, row, strict=True)) for row in zip(*columns, strict=True)]
        return request, columns, records  # type: ignore[return-value]


class _PlainOutput(msgspec.Struct, forbid_unknown_fields=True):
    """An output asked for by name."""

    name: str
    parameters: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def _output(output: _PlainOutput) -> dict[str, Any]:
    if output.parameters is msgspec.UNSET:
        return {"name": output.name}
    return {"name": output.name, "parameters": output.parameters}


def _keys(value: Any) -> int:
    """How many object keys a parsed JSON value holds, at any depth."""
    if isinstance(value, dict):
        return len(value) + sum(_keys(item) for item in value.values())
    if isinstance(value, list):
        return sum(_keys(item) for item in value)
    return 0


def _plain_tensor(spec: InputSpec, max_instances: int) -> type:
    """One input's tensor as `PlainRequests` takes it, tagged by its name: values of its type."""
    accepted = _ACCEPTED[spec.type]
    if spec.type == "number":
        accepted -= _INTEGER_TYPES  # the general path refuses their fractions, naming each
    value: Any = JSON_TYPES[spec.type] | None if spec.nullable else JSON_TYPES[spec.type]
    return msgspec.defstruct(
        "PlainTensor",
        [
            ("shape", Annotated[list[int], msgspec.Meta(min_length=1, max_length=2)]),
            ("datatype", Literal[tuple(sorted(accepted))]),
            ("data", Annotated[list[value], msgspec.Meta(min_length=1, max_length=max_instances)]),
        ],
        tag_field="name",
        tag=spec.name,
        forbid_unknown_fields=True,
        gc=False,
    )
