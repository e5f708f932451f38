"""MLflow's scoring protocol (`mlflow models serve`, SageMaker-style): `/invocations` and `/ping`.

JSON bodies hold exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs`
(optional empty `params`); CSV bodies have a header row. Both become plain records judged by the
/predict rules; a bare `NaN` (MLflow's client writes one for every missing value) is missing
where the field is nullable and refused where it is not.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from mlvajra.artifact import InputSpec, Manifest
from mlvajra.errors import MalformedJSONError, UnsupportedMediaTypeError
from mlvajra.inputs import Problem, shorten
from mlvajra.monitoring.counting import LiveCounts
from mlvajra.predictor import Predictions, Predictor
from mlvajra.serving.codec import run_counted
from mlvajra.serving.protocols.records import RecordRules, invalid, loads_allowing_nan

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The JSON input fields MLflow's scoring server defines; a body holds exactly one."""
CSV_TYPES = frozenset({"text/csv", "application/csv"})
# Decimal text, as the batch path reads CSV numbers (mlvajra.batch.validation).
_NUMBER_TEXT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I
)
_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "RESOURCE_EXHAUSTED",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def render_error(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]],
    request_id: str | None,
) -> tuple[int, bytes]:
    """MLflow's `{"error_code", "message"}`, the envelope's fields beside it; bad input is a 400."""
    status = 400 if status_code == 422 else status_code
    body = {
        "error_code": _ERROR_CODES.get(status, "INTERNAL_ERROR"),
        "message": message,
        "code": code,
        "details": list(details),
        "request_id": request_id,
    }
    return status, orjson.dumps(body)


def body_kind(content_type: str) -> str:
    """`json` or `csv` from the Content-Type header; 415 for anything else."""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    for parameter in filter(None, (part.strip() for part in parameters.split(";"))):
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaTypeError(f"unsupported content-type parameter {parameter!r}")
    if media_type == "application/json":
        return "json"
    if media_type in CSV_TYPES:
        return "csv"
    raise UnsupportedMediaTypeError(
        "send application/json (dataframe_split, dataframe_records, instances or inputs) or "
        "text/csv with a header row"
    )


class MlflowCodec:
    """Decodes `/invocations` bodies into records and answers `{"predictions": [...]}`."""

    def __init__(self, manifest: Manifest, rules: RecordRules) -> None:
        """`rules`: the record rules every protocol shares (built once per worker)."""
        self.rules = rules
        self._specs = {spec.name: spec for spec in manifest.inputs}
        self._regression = manifest.task == "regression"

    def invoke(
        self, predictor: Predictor, live: LiveCounts | None, body: bytes, kind: str
    ) -> tuple[bytes, Predictions]:
        """Score a JSON or CSV body, counting what is accepted for drift into `live` (None:
        monitoring off), as /predict."""
        self.rules.bound.refuse_beyond(body, csv=kind == "csv")
        if kind == "csv":
            rows, nan_is_missing = self._csv_rows(body), False
        else:
            rows, nan_is_missing = self._json_rows(body)
        records = self.rules.validate(rows, nan_is_missing)
        predictions = run_counted(predictor, live, predictor.columns(records), records)
        labels = predictions.labels
        values = labels.astype(np.float64).tolist() if self._regression else labels.tolist()
        return orjson.dumps({"predictions": values}), predictions

    def _json_rows(self, body: bytes) -> tuple[list[Any], bool]:
        payload, fallback = loads_allowing_nan(body)
        if not isinstance(payload, dict):
            raise self._structure("the body must be a JSON object")
        params = payload.get("params", {})
        if not isinstance(params, dict) or params:
            raise self._structure("params: this model takes no parameters", "params")
        given = [key for key in payload if key != "params"]
        if len(given) != 1 or given[0] not in FORMATS:
            named = ", ".join(shorten(str(key)) for key in given) or "none"
            raise self._structure(
                f"the body must hold exactly one of {', '.join(FORMATS)} (got: {named})"
            )
        kind = given[0]
        value = payload[kind]
        if kind == "dataframe_split":
            return self._split_rows(value), fallback
        if kind == "dataframe_records" or isinstance(value, list):
            if not isinstance(value, list):
                raise self._structure(f"{kind} must be a list of records", kind)
            return value, fallback
        if isinstance(value, dict) and all(isinstance(column, list) for column in value.values()):
            return self._column_rows(kind, value), fallback
        raise self._structure(f"{kind} must be a list of records or an object of columns", kind)

    def _split_rows(self, split: Any) -> list[Any]:
        where = "dataframe_split"
        if not isinstance(split, dict):
            raise self._structure(f"{where} must be an object with columns and data", where)
        unknown = set(split) - {"columns", "data", "index"}
        if unknown:
            raise self._structure(f"{where}: unknown key(s) {sorted(map(str, unknown))}", where)
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
            raise self._structure(f"{where}.columns must be a list of names", f"{where}.columns")
        if len(set(columns)) != len(columns):
            raise self._structure(f"{where}.columns names a column twice", f"{where}.columns")
        if not isinstance(data, list):
            raise self._structure(f"{where}.data must be a list of rows", f"{where}.data")
        self.rules.check_count(len(data))
        index = split.get("index")
        if index is not None and (not isinstance(index, list) or len(index) != len(data)):
            raise self._structure(f"{where}.index must list one label per row", f"{where}.index")
        problems = [
            Problem(row, None, f"row has {len(row_values)} value(s) for {len(columns)} column(s)")
            for row, row_values in enumerate(data)
            if isinstance(row_values, list) and len(row_values) != len(columns)
        ]
        if problems:
            raise invalid(problems, "rows do not match the columns", self.rules.field_names)
        return [
            dict(zip(columns, values, strict=True)) if isinstance(values, list) else values
            for values in data
        ]

    def _column_rows(self, kind: str, columns: dict[str, list[Any]]) -> list[Any]:
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1:
            raise self._structure(f"{kind}: every column must hold as many values", kind)
        self.rules.check_count(lengths.pop())
        names = list(columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def _csv_rows(self, body: bytes) -> list[Any]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSONError("the CSV body is not UTF-8 text") from None
        try:
            lines = list(csv.reader(io.StringIO(text)))
        except csv.Error as error:
            raise MalformedJSONError(f"the body is not valid CSV: {error}") from None
        if not lines:
            raise self._structure("the CSV body needs a header row naming the columns")
        header, data = lines[0], lines[1:]
        self.rules.check_count(len(data))
        specs = [self._specs.get(name) for name in header]
        problems = [
            Problem(row, None, f"row has {len(cells)} value(s) for {len(header)} column(s)")
            for row, cells in enumerate(data)
            if len(cells) != len(header)
        ]
        if problems:
            raise invalid(problems, "rows do not match the header", self.rules.field_names)
        return [
            {name: _cell(text, spec) for name, text, spec in zip(header, cells, specs, strict=True)}
            for cells in data
        ]

    def _structure(self, message: str, field: str | None = None) -> Exception:
        return invalid([Problem(None, field, message)], message, self.rules.field_names)


def _cell(text: str, spec: InputSpec | None) -> Any:
    """A CSV cell read by its field's type; unreadable text stays text (then refused by type)."""
    if text == "":
        return None
    if spec is None or spec.type == "string":
        return text
    if spec.type == "boolean":
        lowered = text.lower()
        return True if lowered == "true" else False if lowered == "false" else text
    if spec.type == "integer":
        digits = text[1:] if text[:1] in "+-" else text
        # Longer digit strings are beyond INTEGER_LIMIT anyway (and int() refuses > 4300 digits).
        readable = digits.isascii() and digits.isdigit() and len(digits) <= 20
        return int(text) if readable else text
    if not _NUMBER_TEXT.fullmatch(text):
        return text
    number = float(text)
    # `nan` text is missing where nullable; elsewhere the NaN is refused as in JSON.
    return None if number != number and spec.nullable else number
