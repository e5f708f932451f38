"""The forest's own cost: onnxruntime CPU seconds per million rows of the artifact's graph.

`mlvajra predict` cannot be faster than two cores divided by this figure, so it says what a batch
goal can reach on a model. Rows are real penguins drawn with replacement (as bench/batch.py), made
into model columns by the batch path's own validation; also the same rows with noise on every
number, so that no two are alike. Each configuration runs --rows rows --repeat times on one
process; the best CPU time counts (a shared machine only ever slows a run down). Configurations:
the product's (one session per thread, one intra-op thread, no spinning, no arena), batch sizes,
the arena, spinning, graph optimisation levels, one session on two intra-op threads against two
Python threads on their own sessions, and rows sorted by one numeric input before the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch import ROOT, write_penguins_csv
from mlvajra.batch.validation import validate_batch
from mlvajra.data.files import CsvKind
from mlvajra.folder import open_artifact

Feeds = dict[str, np.ndarray[Any, Any]]
BATCH = 32_768
NOISE = {"bill_length_mm": 1.0, "bill_depth_mm": 0.3, "flipper_length_mm": 2.0, "body_mass_g": 100}


def session(model: bytes, threads: int = 1, **config: Any) -> ort.InferenceSession:
    """A session as `mlvajra.runners.OnnxRunner` makes it, with `config` changed."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if config.get("spinning") else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.enable_cpu_mem_arena = bool(config.get("arena"))
    if "level" in config:
        options.graph_optimization_level = config["level"]
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def model_feeds(model_dir: Path, rows: int) -> Feeds:
    """`rows` penguins as graph inputs, validated as `mlvajra predict` does; numbers float32."""
    manifest = open_artifact(model_dir, None, None)
    names = [spec.name for spec in manifest.inputs]
    with tempfile.TemporaryDirectory(prefix="mlvajra-forest-") as folder:
        path = Path(folder) / "rows.csv"
        write_penguins_csv(path, rows)
        parts: dict[str, list[np.ndarray[Any, Any]]] = {name: [] for name in names}
        for batch in CsvKind(str(path)).batches(names, names):
            for name, values in validate_batch(manifest.inputs, batch, True).columns.items():
                parts[name].append(values)
    feeds = {name: np.concatenate(values) for name, values in parts.items()}
    return {k: v.astype(np.float32) if v.dtype != object else v for k, v in feeds.items()}


def jittered(feeds: Feeds, seed: int = 1) -> Feeds:
    """The same rows with noise on the numbers: every row distinct."""
    rng = np.random.default_rng(seed)
    return {
        name: (values + rng.normal(0, NOISE[name], values.shape)).astype(np.float32)
        if name in NOISE
        else values
        for name, values in feeds.items()
    }


def sorted_by(feeds: Feeds, key: str) -> Feeds:
    """Each batch's rows in the order of one numeric column (what a row-sorting scorer feeds)."""
    out = {name: np.empty_like(values) for name, values in feeds.items()}
    rows = len(feeds[key])
    for start in range(0, rows, BATCH):
        order = np.argsort(feeds[key][start : start + BATCH].reshape(-1), kind="stable")
        for name, values in feeds.items():
            out[name][start : start + BATCH] = values[start : start + BATCH][order]
    return out


def run_all(sessions: list[ort.InferenceSession], feeds: Feeds, batch: int) -> None:
    """Every row once in `batch`-row runs; with two sessions, half the rows each, on two threads."""
    rows = len(next(iter(feeds.values())))
    share = -(-rows // len(sessions))

    def work(one: ort.InferenceSession, start: int, end: int) -> None:
        for low in range(start, end, batch):
            high = min(low + batch, end)
            one.run(None, {name: values[low:high] for name, values in feeds.items()})

    threads = [
        threading.Thread(target=work, args=(one, i * share, min(rows, (i + 1) * share)))
        for i, one in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(run: Callable[[], None], rows: int, repeat: int) -> dict[str, float]:
    """Best CPU seconds per million rows and the wall seconds of that run."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    return {"cpu_s_per_m_rows": round(best[0] * 1e6 / rows, 2), "wall_s": round(best[1], 3)}


def main() -> None:
    """Measure every configuration; print and write bench/results/forest.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "penguins" / "1")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = (args.model_dir / "model.onnx").read_bytes()
    feeds = model_feeds(args.model_dir, args.rows)
    unique = jittered(feeds)
    product = session(model)
    cases: dict[str, Callable[[], None]] = {
        f"product, batch {size:,}": lambda size=size: run_all([product], feeds, size)
        for size in (1_000, 10_000, BATCH, 100_000)
    }
    cases["arena on"] = lambda: run_all([session(model, arena=True)], feeds, BATCH)
    cases["spinning on"] = lambda: run_all([session(model, spinning=True)], feeds, BATCH)
    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_ALL"):
        chosen = getattr(ort.GraphOptimizationLevel, level)
        cases[level] = lambda chosen=chosen: run_all([session(model, level=chosen)], feeds, BATCH)
    two = session(model, threads=2)
    cases["1 session x 2 intra-op threads"] = lambda: run_all([two], feeds, BATCH)
    pair = [session(model), session(model)]
    cases["2 sessions x 1 thread, 2 Python threads"] = lambda: run_all(pair, feeds, BATCH)
    cases["distinct rows"] = lambda: run_all([product], unique, BATCH)
    for key in NOISE:
        ordered, ordered_unique = sorted_by(feeds, key), sorted_by(unique, key)
        cases[f"sorted by {key}"] = lambda o=ordered: run_all([product], o, BATCH)
        cases[f"distinct rows sorted by {key}"] = lambda o=ordered_unique: run_all(
            [product], o, BATCH
        )
    report: dict[str, Any] = {"rows": args.rows, "load_average_before": os.getloadavg()}
    for name, case in cases.items():
        report[name] = measure(case, args.rows, args.repeat)
        print(f"{name:48s} {report[name]['cpu_s_per_m_rows']:5.2f} CPU s per M rows", flush=True)
    report["load_average_after"] = os.getloadavg()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "forest.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
