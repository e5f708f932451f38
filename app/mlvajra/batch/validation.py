"""Validate Arrow columns against the manifest: the API's accept/reject rules, one column at a time.

Each cell is judged as the JSON value it stands for: Arrow integers are JSON integers, floats are
JSON numbers, booleans, strings and nulls are themselves, anything else (dates, bytes, lists) is a
value of the wrong type. A union array (a SQLite column holding several types) is judged per cell.
Text from an untyped file (CSV) is read by the field's type first: a number field takes decimal
text (`3`, `-1.5e3`, `nan`, `inf`), an integer field number text of an integral value (`2007`,
`2007.0`: JSON Schema's integer), a boolean field `true`/`false` in any case; other text is a
string, rejected like a string in the API. An empty cell is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlvajra.artifact import InputSpec
from mlvajra.data.jsonlines import DUPLICATE, NOT_FINITE
from mlvajra.data.kinds import ROW_PROBLEM
from mlvajra.inputs import (
    DUPLICATE_FIELD,
    FLOAT32_MAX,
    INTEGER_LIMIT,
    MAX_STRING_LENGTH,
    MISSING_CATEGORY,
    Problem,
    message_for,
)

_OK, _WRONG_TYPE, _NOT_FINITE, _OUT_OF_RANGE, _TOO_LONG = 0, 1, 2, 3, 4
_CODE_ERRORS = {
    _NOT_FINITE: "finite_number",
    _OUT_OF_RANGE: "less_than_equal",
    _TOO_LONG: "string_too_long",
}
_NOT_FINITE_ERRORS = {
    "number": "finite_number",
    "integer": "int_from_float",
    "string": "string_type",
    "boolean": "bool_type",
}
_TYPE_ERRORS = {
    "number": "float_type",
    "integer": "int_type",
    "string": "string_type",
    "boolean": "bool_type",
}
# Exactly what Arrow's string -> float64 cast accepts (tests/batch/test_validation.py holds it);
# used to find the bad cells only when the fast cast of a whole column fails.
_NUMBER_TEXT = (
    r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$|^[+-]?(?:nan|inf|infinity)$"
)

Values = npt.NDArray[Any]
Codes = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch judged column by column: rows that passed, their model input, others' problems."""

    valid: npt.NDArray[np.bool_]
    columns: dict[str, npt.NDArray[Any]]
    problems: list[Problem]

    @property
    def valid_rows(self) -> int:
        """How many rows passed."""
        return int(np.count_nonzero(self.valid))


def validate_batch(inputs: list[InputSpec], batch: Any, untyped_text: bool) -> ValidatedBatch:
    """Judge every input column of an Arrow batch or table; problems name rows within the batch."""
    checked: list[tuple[InputSpec, Values, Codes]] = []
    bad = np.zeros(batch.num_rows, dtype=np.bool_)
    for spec in inputs:
        column = batch.column(spec.name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        values, codes = check_column(column, spec, untyped_text)
        checked.append((spec, values, codes))
        bad |= codes != _OK
    unreadable = _unreadable_rows(inputs, batch)
    problems: list[Problem] = []
    if bad.any() or unreadable:
        rows = np.flatnonzero(bad)
        row_codes = np.stack([codes[rows] for _, _, codes in checked], axis=1)
        for row, codes_of_row in zip(rows.tolist(), row_codes.tolist(), strict=True):
            if row in unreadable:
                continue  # its values are nulls standing in for a line that could not be read
            for (spec, _, _), code in zip(checked, codes_of_row, strict=True):
                if code != _OK:
                    error = _CODE_ERRORS.get(code) or _TYPE_ERRORS[spec.type]
                    problems.append(Problem(row=row, field=spec.name, message=message_for(error)))
        problems += unreadable.values()
        problems.sort(key=lambda problem: problem.row or 0)
        bad[list(unreadable)] = True
    valid = ~bad
    columns = {
        spec.name: (values[valid] if problems else values).reshape(-1, 1)
        for spec, values, _ in checked
    }
    return ValidatedBatch(valid=valid, columns=columns, problems=problems)


def _unreadable_rows(inputs: list[InputSpec], batch: Any) -> dict[int, Problem]:
    """Rows standing for JSON lines that could not be scored, with the API's reason for each."""
    index = batch.schema.get_field_index(ROW_PROBLEM)
    if index < 0:
        return {}
    types = {spec.name: spec.type for spec in inputs}
    found: dict[int, Problem] = {}
    for row, problem in enumerate(batch.column(index).to_pylist()):
        if problem is None:
            continue
        field, kind = problem["field"], problem["kind"]
        if kind == DUPLICATE:
            message = DUPLICATE_FIELD
        elif kind == NOT_FINITE:
            # What the API answers for NaN, Infinity or 1e400 in a field of this type.
            message = message_for(_NOT_FINITE_ERRORS.get(types.get(field, ""), "finite_number"))
        else:
            message = "the line is not a JSON object"
        found[row] = Problem(row=row, field=field, message=message)
    return found


def check_column(array: Any, spec: InputSpec, untyped_text: bool) -> tuple[Values, Codes]:
    """Model-ready values (float64, or text with the missing marker) and one code per cell."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_string_view(kind):
        # Fewer compute kernels take string views (utf8_length does not).
        array = array.cast(pa.large_string())
        kind = array.type
    if pa.types.is_union(kind):
        return _check_union(array, spec, untyped_text)
    nulls = np.asarray(array.is_null(), dtype=np.bool_)
    if spec.type == "string":
        if _is_text(kind):
            values, codes = _text_objects(array), np.zeros(len(array), dtype=np.uint8)
            long = pc.greater(pc.utf8_length(array), MAX_STRING_LENGTH).fill_null(False)
            codes[np.asarray(long, dtype=np.bool_)] = _TOO_LONG
        else:
            values, codes = _placeholders(len(array), spec), _wrong_type(len(array))
    elif _is_text(kind) and untyped_text:
        values, codes = _parse_text(array, spec)
    elif pa.types.is_integer(kind) and spec.type in ("number", "integer"):
        values, codes = _floats(array), np.zeros(len(array), dtype=np.uint8)
        if spec.type == "integer":
            codes[_integers_out_of_range(array)] = _OUT_OF_RANGE
    elif pa.types.is_floating(kind) and spec.type == "number":
        values = _floats(array)
        codes = np.where(np.isfinite(values), _OK, _NOT_FINITE).astype(np.uint8)
    elif pa.types.is_floating(kind) and spec.type == "integer":
        # JSON Schema's integer: 2007.0 is one (a pandas int column with a missing value).
        values = _floats(array)
        codes = _integral_codes(values, np.zeros(len(array), dtype=np.bool_))
    elif pa.types.is_boolean(kind) and spec.type == "boolean":
        values, codes = _floats(array), np.zeros(len(array), dtype=np.uint8)
    else:
        values, codes = _placeholders(len(array), spec), _wrong_type(len(array))
    if spec.type == "number":
        beyond = (codes == _OK) & (np.abs(np.nan_to_num(values)) > FLOAT32_MAX)
        codes[beyond] = _OUT_OF_RANGE
    if nulls.any():
        # A null is fine where the field is nullable and the wrong type where it is not.
        codes[nulls] = _OK if spec.nullable else _WRONG_TYPE
        values[nulls] = MISSING_CATEGORY if spec.type == "string" else np.nan
    return values, codes


def _is_text(kind: Any) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _wrong_type(rows: int) -> Codes:
    return np.full(rows, _WRONG_TYPE, dtype=np.uint8)


def _placeholders(rows: int, spec: InputSpec) -> Values:
    if spec.type == "string":
        return np.full(rows, MISSING_CATEGORY, dtype=object)
    return np.full(rows, np.nan, dtype=np.float64)


def _floats(array: Any) -> Values:
    # Through numpy, not an Arrow cast: int64 -> float64 rounds as Python's float(int) does.
    if pa.types.is_boolean(array.type) or pa.types.is_integer(array.type):
        zero = False if pa.types.is_boolean(array.type) else 0
        filled = array.fill_null(zero) if array.null_count else array
        return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _text_objects(array: Any) -> Values:
    """Text as a numpy object array, one Python string per distinct value, not per row."""
    encoded = pc.dictionary_encode(array)
    dictionary = np.array([*encoded.dictionary.to_pylist(), MISSING_CATEGORY], dtype=object)
    indices = encoded.indices.fill_null(len(dictionary) - 1).to_numpy(zero_copy_only=False)
    values: Values = dictionary[indices]
    return values


def _parse_text(array: Any, spec: InputSpec) -> tuple[Values, Codes]:
    """Untyped text read by the field's type; unreadable text is a string, hence the wrong type."""
    if spec.type == "boolean":
        lowered = pc.utf8_lower(array)
        true = np.asarray(pc.equal(lowered, "true").fill_null(False), dtype=np.bool_)
        false = np.asarray(pc.equal(lowered, "false").fill_null(False), dtype=np.bool_)
        codes = np.where(true | false, _OK, _WRONG_TYPE).astype(np.uint8)
        return true.astype(np.float64), codes
    try:
        numbers = pc.cast(array, pa.float64())
        readable = np.ones(len(array), dtype=np.bool_)
    except pa.ArrowInvalid:
        matches = pc.match_substring_regex(array, _NUMBER_TEXT, ignore_case=True)
        numbers = pc.cast(pc.if_else(matches, array, pa.scalar(None, array.type)), pa.float64())
        readable = np.asarray(matches.fill_null(True), dtype=np.bool_)
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(values)
    if spec.type == "integer":
        unsigned = pc.utf8_ltrim(array, "+-")
        digits = np.asarray(pc.ascii_is_decimal(unsigned).fill_null(True), dtype=np.bool_)
        # Digits are judged exactly by their text; other number text (2007.0, 1e3) by its value.
        codes = _integral_codes(values, digits)
        codes[~readable] = _WRONG_TYPE
        codes[(codes == _OK) & digits & _digits_out_of_range(unsigned)] = _OUT_OF_RANGE
        return values, codes
    codes = np.where(readable, np.where(finite, _OK, _NOT_FINITE), _WRONG_TYPE)
    return values, codes.astype(np.uint8)


def _integral_codes(values: Values, exact: npt.NDArray[np.bool_]) -> Codes:
    """Integer codes for float values (NaN where null): integral and within the limit, or not.

    `exact` marks cells already known to be integers (digit text), whose range is checked apart.
    """
    with np.errstate(invalid="ignore"):
        integral = np.isfinite(values) & (values == np.trunc(values))
    codes = np.where(exact | integral, _OK, _WRONG_TYPE).astype(np.uint8)
    codes[~exact & integral & (np.abs(values) > INTEGER_LIMIT)] = _OUT_OF_RANGE
    return codes


def _integers_out_of_range(array: Any) -> npt.NDArray[np.bool_]:
    """Exact, in the integers' own type: float64 would round 2**53 + 1 down to the limit."""
    kind = array.type
    if kind.bit_width < 64:
        return np.zeros(len(array), dtype=np.bool_)
    limit = pa.scalar(INTEGER_LIMIT, kind)
    beyond = pc.greater(array, limit)
    if pa.types.is_signed_integer(kind):
        beyond = pc.or_(beyond, pc.less(array, pa.scalar(-INTEGER_LIMIT, kind)))
    return np.asarray(beyond.fill_null(False), dtype=np.bool_)


def _digits_out_of_range(unsigned: Any) -> npt.NDArray[np.bool_]:
    """Integer text beyond the limit, by its digits (any sign was trimmed), exactly."""
    digits = pc.utf8_ltrim(unsigned, "0")
    widest = len(str(INTEGER_LIMIT))
    short = pc.less_equal(pc.utf8_length(digits), widest).fill_null(True)
    readable = pc.and_(short, pc.ascii_is_decimal(digits).fill_null(False))
    numbers = pc.cast(pc.if_else(readable, digits, pa.scalar(None, digits.type)), pa.uint64())
    high = pc.greater(numbers, pa.scalar(INTEGER_LIMIT, pa.uint64())).fill_null(False)
    too_wide = pc.invert(short)
    return np.asarray(pc.or_(high, too_wide), dtype=np.bool_)


def _check_union(array: Any, spec: InputSpec, untyped_text: bool) -> tuple[Values, Codes]:
    """Judge each child array, then pick every cell's verdict from the child that holds it."""
    type_codes = np.asarray(array.type_codes, dtype=np.int64)
    offsets = np.asarray(array.offsets, dtype=np.int64)
    values = _placeholders(len(array), spec)
    codes = np.zeros(len(array), dtype=np.uint8)
    for child_index, type_code in enumerate(array.type.type_codes):
        rows = np.flatnonzero(type_codes == type_code)
        if len(rows) == 0:
            continue
        child_values, child_codes = check_column(array.field(child_index), spec, untyped_text)
        values[rows] = child_values[offsets[rows]]
        codes[rows] = child_codes[offsets[rows]]
    return values, codes
