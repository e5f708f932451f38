"""The bench's pure parts: reading wrk's report, judging issue 17's goals, the results sections."""

from __future__ import annotations

import pytest

from bench.figures import Figures, goals, goals_table, median_figures, median_protocols
from bench.run import parse_wrk
from bench.scale import Run, median_run
from bench.sections import replace_section

# wrk 4.1 --latency, as it prints it (timeouts and a non-2xx answer added to a real report).
WRK_REPORT = """Running 8s test @ http://127.0.0.1:8000/predict
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.26ms    1.97ms  1.68s    83.27%
    Req/Sec     4.00k   403.07     4.55k    45.45%
  Latency Distribution
     50%  812.00us
     75%    3.21ms
     90%    5.21ms
     99%    1.25s
  64097 requests in 8.10s, 14.57MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 1
Requests/sec:   7913.21
Transfer/sec:      1.80MB
"""


def test_parse_wrk_reads_rates_latencies_in_ms_and_errors() -> None:
    assert parse_wrk(WRK_REPORT) == {
        "rps": 7913.21,
        "requests": 64097.0,
        "p50": pytest.approx(0.812),
        "p99": 1250.0,
        "non_2xx": 1.0,
        "socket_errors": 5.0,
    }


def test_parse_wrk_refuses_a_report_without_percentiles() -> None:
    without_latency = WRK_REPORT.replace("     50%  812.00us\n", "")
    with pytest.raises(ValueError, match="50th percentile"):
        parse_wrk(without_latency)


def _rows(served_c32_rps: float, edge_c32_rps: float) -> list[Figures]:
    floor = Figures("floor", c1_p50_ms=0.3, c32_rps=10_000, c32_p99_ms=5.0, batch_p50_ms=4.0)
    served = Figures(
        "mlvajra (gunicorn)",
        c1_p50_ms=0.3,
        c32_rps=served_c32_rps,
        c32_p99_ms=6.0,
        batch_p50_ms=3.0,
        cold_start_s=0.7,
        rss_worker_mb=101.0,
    )
    return [floor, served, Figures("mlvajra (nginx)", c32_rps=edge_c32_rps)]


def test_goals_judge_each_ratio_against_its_target() -> None:
    protocols = {
        "/predict": [1000.0, 1.0, 100.0, 10.0],
        "V2 JSON": [900.0, 1.1, 90.0, 11.5],
        "V2 binary": [1100.0, 0.9, 110.0, 10.0],
    }
    found = {goal.name: goal for goal in goals(_rows(10_000, 6_999), protocols)}
    assert {name: (round(goal.measured, 2), goal.met) for name, goal in found.items()} == {
        "c=32 req/s vs floor": (1.0, True),  # equal to the floor is enough
        "c=1 p50 vs floor": (1.0, True),
        "c=32 p99 vs floor": (1.2, False),
        "1,000-record p50 vs floor": (0.75, True),
        "through nginx c=32 req/s vs floor direct": (0.7, False),  # 0.6999 < 0.7
        "V2 JSON p50 vs /predict, 1 record": (1.1, True),
        "V2 JSON p50 vs /predict, 1,000 records": (1.15, False),
        "V2 binary p50 vs /predict, 1,000 records": (1.0, False),  # equal is not faster
        "cold start": (0.7, True),
        "RSS per worker": (101.0, False),
    }


def test_each_figure_is_its_own_median_over_the_rounds() -> None:
    rounds = [
        Figures("floor", c1_rps=900.0, c32_rps=5000.0, cold_start_s=1.4, errors=["c=1: 1 non-2xx"]),
        Figures("floor", c1_rps=1000.0, c32_rps=3000.0, cold_start_s=0.9),
        Figures("floor", c1_rps=1100.0, c32_rps=4000.0, cold_start_s=1.0, errors=["c=32: 2"]),
    ]
    median = median_figures(rounds)
    assert (median.name, median.c1_rps, median.c32_rps, median.cold_start_s) == (
        "floor",
        1000.0,
        4000.0,
        1.0,
    )
    assert median.busiest_worker_share is None  # measured in no round
    assert median.errors == ["c=1: 1 non-2xx", "c=32: 2"]
    protocols = median_protocols(
        [
            {"V2 JSON": [1.0, 5.0, 3.0, 9.0]},
            {"V2 JSON": [3.0, 4.0, 1.0, 8.0]},
            {"V2 JSON": [2.0] * 4},
        ]
    )
    assert protocols == {"V2 JSON": [2.0, 4.0, 2.0, 8.0]}


def test_goals_leave_out_what_the_run_did_not_measure() -> None:
    served_only = _rows(10_000, 7_000)[1:2]
    assert [goal.name for goal in goals(served_only)] == ["cold start", "RSS per worker"]


def test_the_goals_table_says_met_or_not_met_and_counts() -> None:
    text = goals_table(goals(_rows(9_000, 7_000)))
    assert "| c=32 req/s vs floor | 0.90x | >= 1x | not met |" in text
    assert "| through nginx c=32 req/s vs floor direct | 0.70x | >= 0.7x | met |" in text
    assert "| RSS per worker | 101.00 MB | <= 100 MB | not met |" in text
    assert text.endswith("4 of 7 goals met.")


def test_a_section_is_replaced_in_place_and_the_rest_kept() -> None:
    text = replace_section("# Results\n\nprose\n", "a.py", "old figures")
    text = replace_section(text, "b.py", "b figures") + "closing prose\n"
    replaced = replace_section(text, "a.py", "new figures\n")
    assert replaced == (
        "# Results\n\nprose\n\n<!-- a.py: begin -->\nnew figures\n<!-- a.py: end -->\n\n"
        "<!-- b.py: begin -->\nb figures\n<!-- b.py: end -->\nclosing prose\n"
    )
    assert replace_section(replaced, "a.py", "new figures") == replaced


def _run(rps: float) -> Run:
    return Run(2, 1, {"rps": rps, "requests": rps * 8}, cpu_seconds=8.0, wall_seconds=8.0)


def test_the_median_run_is_one_run_the_lower_middle_of_an_even_count() -> None:
    fast, middle, slow = _run(3000), _run(2000), _run(1000)
    assert median_run([fast, slow, middle]) is middle
    assert median_run([fast, slow]) is slow
    assert middle.requests_per_cpu_second == 2000
