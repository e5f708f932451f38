"""What `make bench` measured, the table of it, and issue 17's goals judged on one run's ratios."""

from __future__ import annotations

import operator
import statistics
from dataclasses import dataclass, field, fields, replace

# The protocol routes' figures (bench/protocols.py): label -> [1-record req/s, 1-record p50 ms,
# 1,000-record req/s, 1,000-record p50 ms], all at c=1 on one server.
ProtocolFigures = dict[str, list[float]]


@dataclass
class Figures:
    """What one server measured."""

    name: str
    c1_rps: float = 0.0
    c1_p50_ms: float = 0.0
    c32_rps: float = 0.0
    c32_p99_ms: float = 0.0
    c32_requests_per_cpu_s: float = 0.0  # requests over the server's CPU seconds (every process)
    batch_p50_ms: float = 0.0
    busiest_worker_share: float | None = None
    cold_start_s: float = 0.0
    rss_total_mb: float = 0.0
    rss_worker_mb: float = 0.0
    errors: list[str] = field(default_factory=list)


def median_figures(rounds: list[Figures]) -> Figures:
    """One server's figures over alternating rounds: each figure's median, every round's errors.

    Each figure is the median of its own (a round slow at c=1 may be fast at c=32): shared
    machines here drift by up to 2x within a minute, and the floor and mlvajra alternate per
    round, so a slow minute weighs on both instead of on whichever ran in it.
    """
    medians: dict[str, float | None] = {}
    for spec in fields(Figures):
        if spec.name in ("name", "errors"):
            continue
        values = [getattr(row, spec.name) for row in rounds]
        known = [value for value in values if value is not None]
        medians[spec.name] = statistics.median(known) if known else None
    errors = [error for row in rounds for error in row.errors]
    return replace(rounds[0], errors=errors, **medians)


def median_protocols(rounds: list[ProtocolFigures]) -> ProtocolFigures:
    """The protocol figures over rounds: each figure's median."""
    return {
        label: [statistics.median(row[label][index] for row in rounds) for index in range(4)]
        for label in rounds[0]
    }


def _cell(value: float, base: float | None, digits: int = 2) -> str:
    """A figure, with its ratio to the floor unless it is the floor's own."""
    ratio = "" if base is None else f" ({value / base:.2f}x)" if base else " (-)"
    return f"{value:,.{digits}f}{ratio}"


def table(rows: list[Figures]) -> str:
    """Markdown table: figures, and the ratio to the first row in parentheses."""
    floor = rows[0]
    lines = [
        "| server | c=1 req/s | c=1 p50 ms | c=32 req/s | c=32 p99 ms | c=32 req per CPU s "
        "| 1,000-record p50 ms | cold start s | RSS MB total (largest worker) "
        "| busiest worker at c=32 (CPU share) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = None if row is floor else floor
        cells = [
            _cell(row.c1_rps, base and base.c1_rps, 0),
            _cell(row.c1_p50_ms, base and base.c1_p50_ms),
            _cell(row.c32_rps, base and base.c32_rps, 0),
            _cell(row.c32_p99_ms, base and base.c32_p99_ms),
            _cell(row.c32_requests_per_cpu_s, base and base.c32_requests_per_cpu_s, 0),
            _cell(row.batch_p50_ms, base and base.batch_p50_ms),
            _cell(row.cold_start_s, base and base.cold_start_s),
            f"{row.rss_total_mb:.0f} ({row.rss_worker_mb:.0f})",
            "-" if row.busiest_worker_share is None else f"{row.busiest_worker_share:.0%}",
        ]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


_RULES = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Goal:
    """One goal of issue 17: a measured ratio (or absolute figure) against its target."""

    name: str
    measured: float
    rule: str  # a key of _RULES: measured <rule> target is met
    target: float
    unit: str = "x"

    @property
    def met(self) -> bool:
        """Whether the measured figure meets the target."""
        return bool(_RULES[self.rule](self.measured, self.target))


def goals(rows: list[Figures], protocols: ProtocolFigures | None = None) -> list[Goal]:
    """Issue 17's goals that this run measured (a server or the protocols not run: left out)."""
    by_name = {row.name: row for row in rows}
    floor, served = by_name.get("floor"), by_name.get("mlvajra (gunicorn)")
    edge = by_name.get("mlvajra (nginx)")
    found: list[Goal] = []
    if floor and served:
        found += [
            Goal("c=32 req/s vs floor", served.c32_rps / floor.c32_rps, ">=", 1.0),
            Goal("c=1 p50 vs floor", served.c1_p50_ms / floor.c1_p50_ms, "<=", 1.0),
            Goal("c=32 p99 vs floor", served.c32_p99_ms / floor.c32_p99_ms, "<=", 1.0),
            Goal("1,000-record p50 vs floor", served.batch_p50_ms / floor.batch_p50_ms, "<=", 1.0),
        ]
    if floor and edge:
        ratio = edge.c32_rps / floor.c32_rps
        found.append(Goal("through nginx c=32 req/s vs floor direct", ratio, ">=", 0.7))
    if protocols:
        predict, v2_json = protocols["/predict"], protocols["V2 JSON"]
        v2_binary = protocols["V2 binary"]
        found += [
            Goal("V2 JSON p50 vs /predict, 1 record", v2_json[1] / predict[1], "<=", 1.1),
            Goal("V2 JSON p50 vs /predict, 1,000 records", v2_json[3] / predict[3], "<=", 1.1),
            Goal("V2 binary p50 vs /predict, 1,000 records", v2_binary[3] / predict[3], "<", 1.0),
        ]
    if served:
        found += [
            Goal("cold start", served.cold_start_s, "<=", 1.0, " s"),
            Goal("RSS per worker", served.rss_worker_mb, "<=", 100.0, " MB"),
        ]
    return found


def goals_table(found: list[Goal]) -> str:
    """Markdown table: each goal, what was measured, the target, met or not met."""
    lines = ["| goal (issue 17) | measured | target | |", "|---|---:|---:|---|"]
    for goal in found:
        lines.append(
            f"| {goal.name} | {goal.measured:.2f}{goal.unit} | {goal.rule} "
            f"{goal.target:g}{goal.unit} | {'met' if goal.met else 'not met'} |"
        )
    met = sum(goal.met for goal in found)
    return "\n".join(lines) + f"\n\n{met} of {len(found)} goals met."
