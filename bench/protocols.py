"""The protocol routes beside /predict on the same server: one record and 1,000 records, c=1.

Bodies are what the real clients send: V2 JSON as tritonclient writes it with `binary_data=False`,
V2 binary tensors from tritonclient's own request encoder (its default from numpy), MLflow's
`dataframe_split` as its ScoringServerClient posts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tritonclient.http as triton

from bench.figures import ProtocolFigures
from tests.fixtures import PENGUIN_DATATYPES, REFERENCE_ROWS, penguin_column

Wrk = Callable[..., dict[str, float]]


def _rows(count: int) -> list[dict[str, Any]]:
    rows = [row for row, _ in REFERENCE_ROWS] * (count // len(REFERENCE_ROWS) + 1)
    return rows[:count]


def instances(count: int) -> bytes:
    """A `/predict` body of `count` records (the reference rows, repeated)."""
    return json.dumps({"instances": _rows(count)}).encode()


def _v2(rows: list[dict[str, Any]], binary: bool) -> tuple[bytes, int | None]:
    inputs = []
    for name, datatype in PENGUIN_DATATYPES.items():
        tensor = triton.InferInput(name, [len(rows), 1], datatype)
        tensor.set_data_from_numpy(penguin_column(rows, name), binary_data=binary)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("predict",)]
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, outputs)
    return body, json_size


def bodies(count: int) -> dict[str, tuple[str, bytes, int | None, str]]:
    """label -> (path, body, Inference-Header-Content-Length or None, content type)."""
    rows = _rows(count)
    v2_json, _ = _v2(rows, binary=False)
    v2_binary, json_size = _v2(rows, binary=True)
    split = {"columns": list(rows[0]), "data": [list(row.values()) for row in rows]}
    return {
        "/predict": ("/predict", instances(count), None, "application/json"),
        "V2 JSON": ("/v2/models/penguins/infer", v2_json, None, "-"),
        "V2 binary": ("/v2/models/penguins/infer", v2_binary, json_size, "-"),
        "MLflow dataframe_split": (
            "/invocations",
            json.dumps({"dataframe_split": split}).encode(),
            None,
            "application/json",
        ),
    }


def measure(url: str, workdir: Path, seconds: int, wrk: Wrk) -> ProtocolFigures:
    """c=1 req/s and p50 per protocol, one record and 1,000 records."""
    figures: ProtocolFigures = {}
    for count in (1, 1000):
        for label, (path, body, header_length, content_type) in bodies(count).items():
            body_file = workdir / f"protocol-{count}-{label.replace(' ', '_').strip('/')}.bin"
            body_file.write_bytes(body)
            extra = {"BENCH_CONTENT_TYPE": content_type}
            if header_length is not None:
                extra["BENCH_HEADER_LENGTH"] = str(header_length)
            run = wrk(url, body_file, 1, seconds, path=path, extra_env=extra)
            if run["non_2xx"] or run["socket_errors"]:
                raise SystemExit(f"{label}, {count} record(s): errors {run}")
            figures.setdefault(label, []).extend([run["rps"], run["p50"]])
    return figures


def table(figures: ProtocolFigures) -> str:
    """A markdown table of what `measure` returned."""
    lines = [
        "| route (same server) | 1 record req/s | 1 record p50 ms | 1,000 records req/s "
        "| 1,000 records p50 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, (rps1, p50_1, rps1000, p50_1000) in figures.items():
        lines.append(f"| {label} | {rps1:,.0f} | {p50_1:.2f} | {rps1000:,.0f} | {p50_1000:.2f} |")
    return "\n".join(lines)
