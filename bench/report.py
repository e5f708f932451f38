"""`mlvajra report` on a large labelled file: wall time and peak RSS, as a user runs it.

Rows are real Palmer penguins rows (with their species) drawn with replacement, for --rows and
--small-rows rows; the report counts batch by batch, so peak RSS should hardly grow with rows.
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

from bench.batch import ROOT, write_penguins_csv

MLVAJRA = Path(sys.executable).parent / "mlvajra"


def run_report(model_dir: Path, data: Path, out: Path) -> dict[str, Any]:
    """One `mlvajra report` process: wall time, CPU time and peak RSS."""
    args = [str(MLVAJRA), "report", str(model_dir), "--data", str(data), "--out", str(out)]
    started = time.perf_counter()
    with subprocess.Popen(args, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        output = child.stdout.read().decode()
        # wait4: this child's own rusage; ru_maxrss is its peak resident set in KiB.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"mlvajra report failed with exit code {child.returncode}")
    return {
        "summary": output.splitlines()[0],
        "wall_seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "html_kib": round(out.stat().st_size / 1024, 1),
    }


def main() -> None:
    """Generate, report, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="mlvajra-bench-report-") as folder:
        work = Path(folder)
        for rows in (args.small_rows, args.rows):
            data = work / f"labelled-{rows}.csv"
            write_penguins_csv(data, rows, labelled=True)
            run = run_report(args.model_dir, data, work / "report.html")
            results[str(rows)] = run
            print(
                f"{rows:,} rows: {run['wall_seconds']} s wall, {run['cpu_seconds']} CPU s, "
                f"peak RSS {run['peak_rss_mib']} MiB, report {run['html_kib']} KiB",
                flush=True,
            )
            data.unlink()
    results["load_average_after"] = os.getloadavg()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
