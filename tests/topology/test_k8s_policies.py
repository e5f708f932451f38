"""The Kubernetes pods' isolation: no token, spread, a disruption budget, a network policy."""

from __future__ import annotations

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def test_kubernetes_pods_hold_no_token_spread_keep_one_and_talk_to_nothing() -> None:
    pod = yaml.safe_load((K8S / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    keys = {constraint["topologyKey"] for constraint in pod["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    budget = yaml.safe_load((K8S / "pdb.yaml").read_text())
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "mlvajra"}
    policy = yaml.safe_load((K8S / "networkpolicy.yaml").read_text())["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    assert [port["port"] for rule in policy["ingress"] for port in rule["ports"]] == [8000]
