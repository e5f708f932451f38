"""Open Inference Protocol (V2) over REST: one input tensor per manifest column, JSON or binary.

A small JSON request is read and judged in one msgspec pass (`v2_tensors.PlainRequests`); any
other becomes columns (`v2_tensors.TensorReader`), judged a column at a time when long
(`columnar.accept_columns`) or as plain records by the /predict record rules (`RecordRules`),
which name every problem. Outputs go back as JSON data or binary tensors (`v2_binary`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import TypeAdapter, ValidationError

from mlvajra import __version__
from mlvajra.artifact import Format, Manifest
from mlvajra.columnar import MIN_ROWS, accept_columns
from mlvajra.errors import NotFoundError
from mlvajra.inputs import MAX_DETAILS, Problem, shorten
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.predictor import Predictions, Predictor, model_column
from mlvajra.serving.bounds import problem_at
from mlvajra.serving.codec import run_counted
from mlvajra.serving.protocols.records import RecordRules, invalid, loads_allowing_nan
from mlvajra.serving.protocols.v2_binary import NUMPY_TYPES, encode_tensor, split_body
from mlvajra.serving.protocols.v2_tensors import (
    ADVERTISED,
    PLAIN_BYTES,
    InferenceRequest,
    PlainRequests,
    TensorReader,
)


def render_error(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]],
    request_id: str | None,
) -> tuple[int, bytes]:
    """V2's `{"error": "<one line>"}`, the envelope's fields beside it; bad input is a 400."""
    text = message
    if details:
        first = details[0]
        where = ", ".join(
            f"{key} {first[key]}" for key in ("row", "field") if first.get(key) is not None
        )
        text += f" (first: {where + ': ' if where else ''}{first.get('message')})"
    body = {"error": text, "code": code, "details": list(details), "request_id": request_id}
    return (400 if status_code == 422 else status_code), orjson.dumps(body)


class V2Codec:
    """Metadata and inference for the one model, under its V2 name and version."""

    def __init__(
        self, manifest: Manifest, model_format: Format, rules: RecordRules, name: str | None
    ) -> None:
        """`rules`: the record rules every protocol shares (built once per worker)."""
        self.manifest = manifest
        self.model_name = name or manifest.name
        self.quoted_name = orjson.dumps(self.model_name)
        self.rules = rules
        self._tensors = TensorReader(manifest, self.rules)
        self._names = [spec.name for spec in manifest.inputs]
        self._request = TypeAdapter(InferenceRequest)
        self._plain = PlainRequests(manifest, rules.max_instances)
        float_type = "FP32" if model_format == "onnx" else "FP64"
        if manifest.task == "classification":
            classes = manifest.classes or []
            label_type = (
                "BOOL"
                if all(isinstance(c, bool) for c in classes)
                else "INT64"
                if all(isinstance(c, int) for c in classes)
                else "BYTES"
            )
            self.outputs = {"predict": (label_type, 1), "predict_proba": (float_type, len(classes))}
        else:
            self.outputs = {"predict": (float_type, 1)}
        self.platform = "onnx_onnxv1" if model_format == "onnx" else "sklearn_joblib"

    def check_model(self, name: str, version: str | None) -> None:
        """404 unless the path names this model (and, if given, its version)."""
        if name != self.model_name:
            raise NotFoundError(
                f"unknown model {shorten(name)!r}: this server has {self.model_name!r}"
            )
        if version is not None and version != self.manifest.version:
            raise NotFoundError(
                f"unknown version {shorten(version)!r} of {self.model_name!r}: "
                f"this server has {self.manifest.version!r}"
            )

    def server_metadata(self) -> bytes:
        """`GET /v2`."""
        return orjson.dumps(
            {"name": "mlvajra", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    def model_metadata(self) -> bytes:
        """`GET /v2/models/{m}`: one input per manifest column, the named outputs."""
        inputs = [
            {"name": spec.name, "datatype": ADVERTISED[spec.type], "shape": [-1, 1]}
            for spec in self.manifest.inputs
        ]
        outputs = [
            {"name": name, "datatype": datatype, "shape": [-1, width]}
            for name, (datatype, width) in self.outputs.items()
        ]
        return orjson.dumps(
            {
                "name": self.model_name,
                "versions": [self.manifest.version],
                "platform": self.platform,
                "inputs": inputs,
                "outputs": outputs,
            }
        )

    def infer(
        self,
        predictor: Predictor,
        live: LiveCounts | None,
        body: bytes,
        header_length: str | None,
        request_id: str,
    ) -> tuple[tuple[bytes, int | None], Predictions]:
        """A request body in; the response body (and its JSON header length if binary) out.

        What is accepted is counted for drift into `live` (None: monitoring off), as /predict.
        """
        header, tail = split_body(body, header_length)
        self.rules.bound.refuse_beyond(header)
        plain = None
        if tail is None and len(header) < PLAIN_BYTES:
            plain = self._plain.read(header)
        if plain is not None:
            request, columns, records = plain
            wanted = self._wanted_outputs(request)
            predictions = run_counted(predictor, live, self._model_columns(columns), records)
            return self._encode(predictions, wanted, request.get("id") or request_id), predictions
        parsed, fallback = loads_allowing_nan(header)
        self._refuse_many_tensors(parsed)
        try:
            request = self._request.validate_python(parsed)
        except ValidationError as error:
            items = error.errors(include_input=False, include_url=False)
            problems = [problem_at(item["loc"], item) for item in items]
            raise invalid(problems, "the body is not a V2 inference request", set()) from None
        wanted = self._wanted_outputs(request)
        tensors, binary = self._tensors.columns(request["inputs"], tail)
        names = self._names
        # A list's NaN is a missing value where the field is nullable; an array's is judged by
        # `accept_columns` (or made a list below).
        if binary or fallback:
            tensors = [
                self.rules.nan_as_missing(name, values) if isinstance(values, list) else values
                for name, values in zip(names, tensors, strict=True)
            ]
        model_columns = (
            accept_columns(self.manifest.inputs, tensors) if len(tensors[0]) >= MIN_ROWS else None
        )
        if model_columns is not None:
            predictions = run_counted(predictor, live, model_columns)
        else:  # judged record by record, every problem named
            columns = [
                values
                if isinstance(values, list)
                else self.rules.nan_as_missing(name, values.tolist())
                for name, values in zip(names, tensors, strict=True)
            ]
            rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
            records = self.rules.validate(rows)
            # What validation accepted, as the model takes it: from the columns at hand.
            predictions = run_counted(predictor, live, self._model_columns(columns), records)
        response_id = request.get("id") or request_id
        return self._encode(predictions, wanted, response_id), predictions

    def _model_columns(self, columns: list[list[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Accepted values, one list per input in manifest order, as the model takes them."""
        return {
            spec.name: model_column(spec, values)
            for spec, values in zip(self.manifest.inputs, columns, strict=True)
        }

    def _refuse_many_tensors(self, parsed: Any) -> None:
        """Far more input or output tensors than the model has: one problem, none validated."""
        if not isinstance(parsed, dict):
            return
        for key, most in (("inputs", len(self.manifest.inputs)), ("outputs", len(self.outputs))):
            given = parsed.get(key)
            if isinstance(given, list) and len(given) > most + MAX_DETAILS:
                message = f"{len(given)} {key}; this model has {most}"
                raise invalid([Problem(None, key, message)], message, self.rules.field_names)

    def _wanted_outputs(self, request: InferenceRequest) -> list[tuple[str, bool]]:
        """(name, binary) per output asked for; all outputs when none are named."""
        binary_default = request.get("parameters", {}).get("binary_data_output") is True
        asked = request.get("outputs")
        if not asked:
            return [(name, binary_default) for name in self.outputs]
        problems = []
        wanted = []
        for index, output in enumerate(asked):
            if output["name"] not in self.outputs:
                known = ", ".join(self.outputs)
                message = f"unknown output {shorten(output['name'])!r}; this model has {known}"
                problems.append(Problem(row=None, field=f"outputs.{index}.name", message=message))
                continue
            flag = output.get("parameters", {}).get("binary_data", binary_default)
            wanted.append((output["name"], flag is True))
        if problems:
            raise invalid(problems, "the request asks for outputs this model does not have", set())
        return wanted

    def _encode(
        self, predictions: Predictions, wanted: list[tuple[str, bool]], response_id: str
    ) -> tuple[bytes, int | None]:
        outputs = []
        chunks = []
        for name, binary in wanted:
            datatype, width = self.outputs[name]
            values = self._output_values(name, predictions)
            output: dict[str, Any] = {
                "name": name,
                "datatype": datatype,
                "shape": [len(predictions.labels), width],
            }
            if binary:
                chunk = encode_tensor(values, datatype)
                output["parameters"] = {"binary_data_size": len(chunk)}
                chunks.append(chunk)
            else:
                # OPT_SERIALIZE_NUMPY writes float32 at float32 precision, as /predict does.
                output["data"] = values.reshape(-1) if values.dtype != object else values.tolist()
            outputs.append(output)
        header = orjson.dumps(
            {
                "model_name": self.model_name,
                "model_version": self.manifest.version,
                "id": response_id,
                "outputs": outputs,
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        if not chunks:
            return header, None
        return header + b"".join(chunks), len(header)

    def _output_values(self, name: str, predictions: Predictions) -> npt.NDArray[Any]:
        if name == "predict_proba":
            assert predictions.probabilities is not None
            return np.asarray(predictions.probabilities)
        datatype = self.outputs["predict"][0]
        labels = predictions.labels
        if datatype == "BYTES":
            return np.asarray([str(label) for label in labels.tolist()], dtype=object)
        return np.asarray(labels, dtype=NUMPY_TYPES[datatype])
