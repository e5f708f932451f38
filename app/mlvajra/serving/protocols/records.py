"""What every protocol codec shares: rows judged by the /predict record rules; JSON with NaN.

A protocol decodes its own wire format into plain records (one dict per row, keyed by the
manifest's input names) and hands them here: the same strict record type as /predict
(`mlvajra.inputs.build_record_type`), the same messages, the same details cap and metrics labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import from_json

from mlvajra.artifact import Manifest
from mlvajra.errors import InvalidInstancesError, MalformedJSONError, PayloadTooLargeError
from mlvajra.inputs import (
    MAX_DETAILS,
    Problem,
    build_record_type,
    message_for,
    parsed_duplicate_keys,
)
from mlvajra.serving.bounds import BodyBound, BoundedProblems
from mlvajra.serving.codec import field_counts


def loads_allowing_nan(body: bytes) -> tuple[Any, bool]:
    """Parse JSON; a bare `NaN` / `Infinity` token (MLflow's and tritonclient's) is accepted too.

    orjson refuses those tokens, so pydantic's parser (Rust too; Python's took 3x as long) runs
    only when orjson fails. Returns the value and whether the fallback ran (only then can a float
    be NaN or infinite). Duplicate keys are refused, naming the key.
    """
    try:
        parsed, fallback = orjson.loads(body), False
    except orjson.JSONDecodeError:
        try:
            parsed, fallback = from_json(body, allow_inf_nan=True, cache_strings=False), True
        except ValueError:
            raise MalformedJSONError("the body is not valid JSON") from None
    # The parsers keep the last of duplicate keys: refused as /predict refuses them.
    duplicates = parsed_duplicate_keys(body, parsed)
    if duplicates:
        raise invalid(duplicates, f"{len(duplicates)} duplicate field(s)", set())
    return parsed, fallback


def invalid(problems: Sequence[Problem], message: str, field_names: set[str]) -> Exception:
    """The 422-family error for these problems (protocol routes render it as their 400)."""
    return InvalidInstancesError(
        message,
        [problem.as_detail() for problem in problems[:MAX_DETAILS]],
        field_counts(problems, field_names),
    )


class RecordRules:
    """Judges decoded rows as /predict judges its instances."""

    def __init__(self, manifest: Manifest, max_instances: int) -> None:
        self.inputs = manifest.inputs
        self.max_instances = max_instances
        self.field_names = {spec.name for spec in manifest.inputs}
        self._nullable = [spec.name for spec in manifest.inputs if spec.nullable]
        self.bound = BodyBound(manifest.inputs, max_instances)
        record_type = build_record_type(manifest.inputs)
        # Stops at the first bad record; `BoundedProblems` then names them at a bounded cost.
        self._adapter: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(
            Annotated[list[record_type], Field(fail_fast=True)]  # type: ignore[valid-type,arg-type]
        )
        self._record_adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(record_type)

    def check_count(self, rows: int) -> None:
        """413 beyond `max_instances`, 400 for no rows at all."""
        if rows > self.max_instances:
            raise PayloadTooLargeError(
                f"too many instances: at most {self.max_instances} per request"
            )
        if rows < 1:
            raise invalid(
                [Problem(row=None, field=None, message=message_for("too_short"))],
                "no records to score",
                self.field_names,
            )

    def validate(self, rows: list[Any], nan_is_missing: bool = False) -> list[dict[str, Any]]:
        """The rows as validated records; `nan_is_missing`: a NaN float in a nullable field is null.

        A NaN left in a field that is not nullable is refused as /predict refuses it.
        """
        self.check_count(len(rows))
        if nan_is_missing and self._nullable:
            rows = [self._nan_to_none(row) for row in rows]
        try:
            return self._adapter.validate_python(rows, strict=True)
        except ValidationError:
            found = BoundedProblems(rows, self._record_adapter, self.field_names)
            raise invalid(found.problems, found.message(), self.field_names) from None

    def nan_as_missing(self, name: str, values: list[Any]) -> list[Any]:
        """One column's NaN floats as nulls when the field is nullable (else left to be refused)."""
        if name not in self._nullable:
            return values
        # NaN is the one value unequal to itself; a column walk is cheaper than one per row.
        return [None if value != value else value for value in values]

    def _nan_to_none(self, row: Any) -> Any:
        if not isinstance(row, dict):
            return row
        for name in self._nullable:
            value = row.get(name)
            if isinstance(value, float) and math.isnan(value):
                row = {**row, name: None}
        return row
