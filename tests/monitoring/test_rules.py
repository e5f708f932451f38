"""deploy/prometheus and deploy/grafana: promtool checks and unit-tests the rules, the dashboard's
queries parse and name only series that exist, and `/drift` gives the rule's PSI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlvajra.artifact import FeatureReference, Reference
from mlvajra.monitoring.drift import drift_report

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "mlvajra-drift.rules.yml"
RULE_FILES = sorted((ROOT / "deploy" / "prometheus").glob("*.rules.yml"))
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "mlvajra-model.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
EXPORTED = {
    "mlvajra_input_bin_total", "mlvajra_input_reference_ratio", "mlvajra_input_min_count",
    "mlvajra_model_heldout_metric", "mlvajra_model_info", "mlvajra_requests_total",
    "mlvajra_request_duration_seconds_bucket", "mlvajra_invalid_instances_total",
}  # fmt: skip


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_promtool_checks_the_rules() -> None:
    assert len(RULE_FILES) == 2  # drift, quality
    result = _promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_unit_tests_pass(case: Path) -> None:
    result = _promtool("test", "rules", str(case))
    assert result.returncode == 0, result.stdout + result.stderr


def _dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_every_dashboard_query_parses_and_names_existing_series(tmp_path: Path) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 10
    substituted = [
        query.replace("$__rate_interval", "5m").replace("$color", ".*").replace("$feature", "x")
        for query in queries
    ]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{i}", "expr": query} for i, query in enumerate(substituted)
    ]}]}  # fmt: skip
    generated = tmp_path / "dashboard.rules.yml"
    generated.write_text(yaml.safe_dump(rules))
    result = _promtool("check", "rules", str(generated))
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = {rule["record"] for group in yaml.safe_load(RULES.read_text())["groups"]
                for rule in group["rules"] if "record" in rule}  # fmt: skip
    named = set(re.findall(r"\b(mlvajra[:_][a-z0-9_:]+)", " ".join(substituted)))
    assert named <= recorded | EXPORTED, named - recorded - EXPORTED


def test_drift_gives_the_figure_the_rule_unit_test_expects() -> None:
    # The promtool test's "drift" feature: 3300/900/900/900 over four 25 % bins -> 390.
    feature = FeatureReference(
        kind="numeric", edges=[0, 1, 2, 3], bins=["b0", "b1", "b2", "b3"], ratios=[0.25] * 4,
        min_count=500,
    )  # fmt: skip
    reference = Reference(
        rows=1000, smoothing=0.5, psi_watch=0.1, psi_act=0.25,
        features={"drift": feature}, prediction=feature,
    )  # fmt: skip
    counts: dict[str, Any] = {"drift": {"b0": 3300, "b1": 900, "b2": 900, "b3": 900}}
    figures = drift_report(reference, counts)["features"]["drift"]
    expected = yaml.safe_load(RULE_TESTS[0].read_text())["tests"][0]["promql_expr_test"][0]
    value = next(s["value"] for s in expected["exp_samples"] if 'feature="drift"' in s["labels"])
    assert round(1000 * figures["psi"]) == value
    assert figures["status"] == "act"
