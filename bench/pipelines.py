"""Each pipeline of the matrix (tests/training/matrix.py) packaged and served: the format chosen
and why, the parity figure, the artifact's size and one-record /predict p50 through real gunicorn.

    python bench/pipelines.py [--requests 300]

Prints a Markdown table (the README's, under "Your own pipeline").
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mlvajra  # noqa: E402
from mlvajra.training.packaging import Packaged  # noqa: E402
from tests.topology.processes import Gunicorn  # noqa: E402
from tests.training.matrix import CASES  # noqa: E402

MAX_SECONDS_PER_PIPELINE = 60.0


def _parity(packaged: Packaged) -> str:
    parity = packaged.parity
    if parity is None:
        return "n/a (no graph)"
    diff = parity.max_abs_probability_diff
    kind = "max abs dp"
    if diff is None:
        diff, kind = parity.max_abs_value_diff, "max abs dy"
    return f"{kind} {diff:.2g}" + ("" if parity.passed else " (failed)")


def _why(packaged: Packaged) -> str:
    if packaged.format_reason is None:
        return "converts, parity within tolerance"
    # "float32: skl2onnx cannot convert this pipeline (float32): ValueError: ..." -> "ValueError"
    reason = re.sub(r"^float(32|64): ", "", packaged.format_reason)
    reason = re.sub(r"^skl2onnx cannot convert this pipeline( \(\w+\))?: ", "", reason)
    return "skl2onnx: " + reason.split(":")[0].split(";")[0][:60]


def _p50_ms(url: str, record: dict[str, object], requests: int) -> float:
    timings = []
    deadline = time.monotonic() + MAX_SECONDS_PER_PIPELINE
    with httpx.Client(base_url=url, timeout=10) as client:
        body = {"instances": [record]}
        for _ in range(20):  # warm up the connection and the worker
            client.post("/predict", json=body).raise_for_status()
        for _ in range(requests):
            start = time.perf_counter()
            client.post("/predict", json=body).raise_for_status()
            timings.append(time.perf_counter() - start)
            if time.monotonic() > deadline:
                break
    return statistics.median(timings) * 1000


def main() -> None:
    """Package, serve and measure every matrix pipeline, one at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print("| pipeline | format | why | parity | artifact | p50 one record |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for case in CASES:
            if not case.available():
                print(f"| {case.name} | skipped: {case.needs} not installed | | | | |")
                continue
            fitted, holdout, labels = case.fitted()
            packaged = mlvajra.package(
                fitted, holdout, labels, name=case.name, models_root=root / "models"
            )
            size_kb = sum(p.stat().st_size for p in packaged.folder.iterdir()) / 1024
            record = holdout.iloc[0].to_dict()
            server = Gunicorn(packaged.folder, root, workers=1).start()
            try:
                p50 = _p50_ms(server.wait_ready(timeout=120).url, record, args.requests)
            finally:
                server.stop()
            print(
                f"| {case.name} | {packaged.format} | {_why(packaged)} | {_parity(packaged)} "
                f"| {size_kb:,.0f} KB | {p50:.2f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
