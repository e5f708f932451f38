"""Bounded work per request, for every wire format: what no valid body can exceed, found at C
speed before parsing, and bad records judged one at a time up to the details cap.

/predict (`codec.py`), V2 and MLflow (`protocols/`) share both, so a hostile body costs about
what a valid one does on every route.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from mlvajra.artifact import InputSpec
from mlvajra.errors import PayloadTooLargeError
from mlvajra.inputs import MAX_DETAILS, Problem, count_byte, message_for, shorten

STRINGS_SLACK = 1.25
"""A body may hold this many times the strings a valid one can before it is refused unread:
records with an extra key or two still get the 422 that names them, and the walk over the
strings below stays cheap (at 2x it cost 3.4 times a valid request)."""


class BodyBound:
    """The most separators and strings `max_instances` valid records of `inputs` can hold."""

    def __init__(self, inputs: Sequence[InputSpec], max_instances: int) -> None:
        self.max_instances = max_instances
        self.input_count = len(inputs)
        # Every key is followed by a colon and every further value by a comma; the envelope
        # (V2's name, shape, datatype and parameters per tensor, MLflow's columns) a few more.
        envelope = 16 * (len(inputs) + 4)
        self.max_separators = max_instances * (len(inputs) + 1) + envelope
        # Keys, string values and the envelope's keys and names.
        strings = sum(spec.type == "string" for spec in inputs)
        self.max_strings = max_instances * (len(inputs) + strings) + envelope

    def refuse_beyond(self, body: bytes | bytearray | memoryview, csv: bool = False) -> None:
        """413 for a body whose structure alone says no valid body looks like it.

        Parsing is what costs: orjson took 0.1 s and 100 MB for a list of 4 million zeros, and
        pydantic 2.6 s for one object of 700,000 keys. `csv`: rows and cells, not JSON.
        """
        first, second = (b",", b"\n") if csv else (b":", b",")
        limit = self.max_separators
        # Two counting passes on the hot path (one if the first exceeds): only a body beyond a
        # valid one is looked at closer.
        counts = [count_byte(body, first), -1]
        if counts[0] <= limit:
            counts[1] = count_byte(body, second)
            if counts[1] <= limit:
                return
        data = bytes(body) if isinstance(body, memoryview) else body
        if self._beyond(data, first, second, counts, json=not csv):
            raise PayloadTooLargeError(
                f"more values than {self.max_instances} records of the model's "
                f"{self.input_count} inputs hold; refused unread"
            )

    def _beyond(
        self, body: bytes | bytearray, first: bytes, second: bytes, counts: list[int], json: bool
    ) -> bool:
        """Whether the separators outside strings exceed a valid body's, at C speed mostly.

        `counts`: the body's counts of `first` and `second` (-1: not counted yet).
        """
        # Every string has an opening quote not preceded by a backslash: a lower bound on the
        # strings in the body, which also bounds the walk below.
        bound = STRINGS_SLACK * self.max_strings
        quotes = body.count(b'"')
        if quotes // 2 > bound and (quotes - body.count(b'\\"')) // 2 > bound:
            return True
        outside = [counts[0], body.count(second) if counts[1] < 0 else counts[1]]
        opening = body.find(b'"')
        while opening != -1:
            closing = body.find(b'"', opening + 1)
            while json and closing != -1 and _escaped(body, opening + 1, closing):
                closing = body.find(b'"', closing + 1)
            if closing == -1:
                return False  # an unterminated string: the parser says so
            outside[0] -= body.count(first, opening + 1, closing)
            outside[1] -= body.count(second, opening + 1, closing)
            opening = body.find(b'"', closing + 1)
        return max(outside) > 2 * self.max_separators


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


class BoundedProblems:
    """The problems of records that failed validation, found at a cost bounded by their shape.

    Records are judged one at a time: the keys a record has beyond the model's inputs are
    counted, never validated, and checking stops once `MAX_DETAILS` problems are found.
    """

    def __init__(self, records: Iterable[Any], adapter: TypeAdapter[Any], names: set[str]) -> None:
        self.problems: list[Problem] = []
        self.total = self.rows = 0
        self.unchecked: int | None = None  # the first row not looked at, once details are full
        for row, record in enumerate(records):
            if len(self.problems) >= MAX_DETAILS:
                # The rest unread: each further bad record would cost as much as a valid one.
                self.unchecked = row
                break
            self._judge(row, record, adapter, names)

    def _judge(self, row: int, record: Any, adapter: TypeAdapter[Any], names: set[str]) -> None:
        unknown = 0
        extra: Iterable[Any] = ()
        if isinstance(record, dict) and len(record) > len(names):
            # The extra keys never reach pydantic: counted, the first few named, and only the
            # model's own fields validated.
            known = {name: record[name] for name in names if name in record}
            unknown = len(record) - len(known)
            extra = (key for key in record if key not in names)
            record = known
        try:
            adapter.validate_python(record, strict=True)
            found: list[ErrorDetails] = []
        except ValidationError as error:
            found = error.errors(include_input=False, include_url=False)
        if not found and not unknown:
            return
        self.problems.extend(problem_at(("instances", row, *item["loc"]), item) for item in found)
        room = max(0, MAX_DETAILS - len(self.problems))
        self.problems.extend(
            Problem(row, shorten(str(key)), message_for("extra_forbidden"))
            for key in itertools.islice(extra, room)
        )
        self.total += len(found) + unknown
        self.rows += 1

    def message(self) -> str:
        """`N invalid value(s) in M record(s)`, "at least" when checking stopped early."""
        capped = "at least " if self.unchecked is not None else ""
        text = f"{capped}{self.total} invalid value(s) in {capped}{self.rows} record(s)"
        if self.unchecked is not None:
            text += f" (records from row {self.unchecked} on not checked)"
        return text


def problem_at(loc: tuple[int | str, ...], item: ErrorDetails) -> Problem:
    """Map a pydantic location (`instances`, row, field) to row and field."""
    message = message_for(item["type"], item["msg"])
    if len(loc) >= 2 and loc[0] == "instances" and isinstance(loc[1], int):
        field = shorten(str(loc[2])) if len(loc) > 2 else None
        return Problem(row=loc[1], field=field, message=message)
    field = shorten(".".join(str(part) for part in loc))
    return Problem(row=None, field=field or None, message=message)
