"""The built-in pipeline at scale: `mlvajra train` on synthetic penguin-like rows, as users run it.

Rows are real Palmer penguins drawn with replacement, each measurement moved by Gaussian noise
(a tenth of its column's standard deviation), written as Parquet to a temporary folder that is
removed at the end. Per size: wall time and peak RSS of the `mlvajra train` process, the
artifact's size on disk, and the RSS of one serving worker (real gunicorn, one worker) after a
prediction. Goals (issue 11): 1M rows in under 5 minutes, artifact under 50 MB, worker under
150 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlvajra.training.datasets import penguins_csv  # noqa: E402
from tests.fixtures import REFERENCE_ROWS  # noqa: E402
from tests.topology.processes import Gunicorn  # noqa: E402

MLVAJRA = Path(sys.executable).parent / "mlvajra"
MEASURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
GOALS = {"train_seconds": 300.0, "artifact_mib": 50.0, "worker_rss_mib": 150.0}
"""The goals for 1M rows."""


def penguin_like(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` penguins drawn with replacement, measurements moved by noise, missing values kept."""
    penguins = pd.read_csv(penguins_csv())
    rng = np.random.default_rng(seed)
    frame = penguins.iloc[rng.integers(0, len(penguins), rows)].reset_index(drop=True)
    for name in MEASURES:
        noise = rng.normal(0.0, 0.1 * penguins[name].std(), rows)
        frame[name] = (frame[name] + noise).round(2)
    return frame


def train(data: Path, models: Path) -> dict[str, Any]:
    """One `mlvajra train` process: wall time, peak RSS and the artifact it wrote."""
    args = [str(MLVAJRA), "train", "--data", str(data), "--target", "species"]
    started = time.perf_counter()
    with subprocess.Popen(
        [*args, "--name", "penguins", "--models-root", str(models)], stderr=subprocess.DEVNULL
    ) as child:
        # wait4 gives this child's own rusage: ru_maxrss is its peak resident set, in KiB.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"mlvajra train failed with exit code {child.returncode}")
    folder = next((models / "penguins").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    return {
        "train_seconds": round(time.perf_counter() - started, 1),
        # CPU seconds do not depend on what else runs on a shared machine, unlike wall time.
        "train_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "train_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "artifact_mib": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 2),
        "format": manifest["format"],
        "f1_macro": round(manifest["metrics"]["value"], 4),
        "folder": folder,
    }


def worker_rss(folder: Path, workdir: Path) -> float:
    """RSS (MiB) of one gunicorn worker serving `folder`, after one prediction."""
    server = Gunicorn(folder, workdir, workers=1).start()
    try:
        # A generous start-up timeout: the machine may be shared (this one often is).
        server.wait_ready(timeout=180)
        body = json.dumps({"instances": [REFERENCE_ROWS[0][0]]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
        assert server.process is not None
        (worker,) = psutil.Process(server.process.pid).children()
        return round(worker.memory_info().rss / 2**20, 1)
    finally:
        server.stop()


def measure(rows: int, workdir: Path) -> dict[str, Any]:
    """Every figure for one size."""
    data = workdir / f"penguins-{rows}.parquet"
    penguin_like(rows).to_parquet(data)
    result = train(data, workdir / f"models-{rows}")
    folder = result.pop("folder")
    result["worker_rss_mib"] = worker_rss(folder, workdir)
    return {"rows": rows, **result}


def main() -> None:
    """Measure each size and print one JSON line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-train-") as workdir:
        for rows in options.rows:
            result = measure(rows, Path(workdir))
            if rows >= 1_000_000:
                result["goals_met"] = all(result[key] < goal for key, goal in GOALS.items())
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
