"""Batch scoring speed and memory: `mlvajra predict` on CSV -> Parquet, measured as a user runs it.

Rows are real Palmer penguins rows drawn with replacement (the data the default model is for),
with an `id` column, written to a temporary folder that is removed at the end. Two installs, runs
alternating: this virtualenv (`dev`: pandas is there, and pyarrow imports it on its first
conversion) and the batch install (`pip install '.[batch]'` into a virtualenv of its own, at this
one's versions: no pandas, no scikit-learn). Speed: rows/s over --rows rows, best of --repeat runs
of each. Memory, with the batch install: peak RSS of the whole process for --rows and for
--big-rows rows; chunked scoring keeps them within 10% of each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from mlvajra.training.datasets import penguins_csv

ROOT = Path(__file__).resolve().parent.parent
MLVAJRA = Path(sys.executable).parent / "mlvajra"
CHUNK_ROWS = 500_000


def write_penguins_csv(path: Path, rows: int, seed: int = 0, labelled: bool = False) -> None:
    """`rows` penguins drawn with replacement plus an `id`, written chunk by chunk (`labelled`:
    with their species, for `mlvajra report`)."""
    penguins = pa_csv.read_csv(penguins_csv())
    if not labelled:
        penguins = penguins.drop_columns(["species"])
    rng = np.random.default_rng(seed)
    with pa_csv.CSVWriter(path, pa.schema([("id", pa.int64()), *penguins.schema])) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - start)
            chunk = penguins.take(rng.integers(0, penguins.num_rows, count))
            ids = pa.array(np.arange(start, start + count, dtype=np.int64))
            writer.write_table(chunk.add_column(0, "id", ids))


def batch_install(folder: Path) -> Path:
    """`pip install '.[batch]'` of this checkout into a new virtualenv under `folder`, pinned to
    this virtualenv's versions (uv: seconds, from its cache); its `mlvajra` script."""
    uv = str(Path(sys.executable).parent / "uv")
    venv = folder / "batch-venv"
    pins = subprocess.run(
        [uv, "pip", "freeze", "--exclude-editable", "--python", sys.executable],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    constraints = folder / "constraints.txt"
    constraints.write_text(pins)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python]
    subprocess.run([*install, f"{ROOT}[batch]", "-c", str(constraints)], check=True)
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('pandas') is None)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    if found.stdout.strip() != "True":
        raise SystemExit("the batch install holds pandas: the comparison would mean nothing")
    return venv / "bin" / "mlvajra"


def run_predict(
    model_dir: Path, source: Path, target: Path, mlvajra: Path = MLVAJRA
) -> dict[str, Any]:
    """One `mlvajra predict` process: its JSON summary, wall time and peak RSS."""
    args = [str(mlvajra), "predict", "--model-dir", str(model_dir), str(source), str(target)]
    started = time.perf_counter()
    with subprocess.Popen([*args, "--keep", "id", "--json"], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        output = child.stdout.read()
        # wait4 gives this child's own rusage: ru_maxrss is its peak resident set, in KiB.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"mlvajra predict failed with exit code {child.returncode}")
    summary: dict[str, Any] = json.loads(output)
    summary["wall_seconds"] = round(time.perf_counter() - started, 3)
    summary["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    # CPU seconds of the whole process (start-up included): on a shared machine this is the
    # figure that does not depend on what else runs, unlike rows/s.
    summary["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return summary


def main() -> None:
    """Generate, score, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true", help="Only measure speed.")
    args = parser.parse_args()
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-") as folder:
        work = Path(folder)
        small = work / "small.csv"
        write_penguins_csv(small, args.rows)
        installs = {"dev": MLVAJRA, "batch": batch_install(work)}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in installs}
        for _ in range(args.repeat):  # alternating: both installs see the same machine
            for name, mlvajra in installs.items():
                runs[name].append(
                    run_predict(args.model_dir, small, work / "small.parquet", mlvajra)
                )
        report["speed"] = {"rows": args.rows, "csv_mib": round(small.stat().st_size / 2**20, 1)}
        for name, each in runs.items():
            best = max(each, key=lambda run: run["rows_per_second"])
            report["speed"][name] = {
                "rows_per_second_each": [run["rows_per_second"] for run in each],
                "rows_per_second_best": best["rows_per_second"],
                "wall_seconds_best": min(run["wall_seconds"] for run in each),
                "cpu_seconds_each": [run["cpu_seconds"] for run in each],
                "rows_per_cpu_second_best": round(args.rows / min(r["cpu_seconds"] for r in each)),
            }
            rates = ", ".join(f"{run['rows_per_second']:,.0f}" for run in each)
            print(
                f"speed ({name} install): {args.rows:,} rows CSV -> Parquet, best "
                f"{best['rows_per_second']:,.0f} rows/s (each: {rates}); "
                f"{min(r['cpu_seconds'] for r in each)} CPU seconds at best",
                flush=True,
            )
        if not args.skip_memory:
            big = work / "big.csv"
            write_penguins_csv(big, args.big_rows)
            # The median small run, neither the luckiest nor the unluckiest, against the big one.
            batch_runs = runs["batch"]
            small_run = sorted(batch_runs, key=lambda run: run["peak_rss_mib"])[
                len(batch_runs) // 2
            ]
            big_run = run_predict(args.model_dir, big, work / "big.parquet", installs["batch"])
            big.unlink()
            ratio = big_run["peak_rss_mib"] / small_run["peak_rss_mib"]
            report["memory"] = {
                "rows": [args.rows, args.big_rows],
                "peak_rss_mib": [small_run["peak_rss_mib"], big_run["peak_rss_mib"]],
                "ratio": round(ratio, 3),
                "within_10_percent": ratio <= 1.10,
                "big_rows_per_second": big_run["rows_per_second"],
            }
            print(
                f"memory: peak RSS {small_run['peak_rss_mib']} MiB for {args.rows:,} rows, "
                f"{big_run['peak_rss_mib']} MiB for {args.big_rows:,} rows (x{ratio:.3f}); "
                f"{big_run['rows_per_second']:,.0f} rows/s on the big file",
                flush=True,
            )
    report["load_average_after"] = os.getloadavg()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "batch.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
