"""The Kubernetes manifests pass kube-score with no critical finding (an ignore needs a written
reason) and meet the "restricted" Pod Security Standard the namespace enforces: non-root,
RuntimeDefault seccomp, no capabilities, no privilege escalation, a read-only root with a
writable emptyDir at /tmp (large multipart uploads spool there), requests and limits, no
``replicas`` where an HPA rules, a PodDisruptionBudget and anti-affinity per service.

kube-score is installed by scripts/test-prerequisites.sh through the Go module proxy into
~/.cache/ioc-platform/bin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TMP = "/tmp"  # noqa: S108 - the path inside the containers
MANIFESTS = sorted((ROOT / "deploy/k8s").glob("*.yaml"))
DOCS = [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]
SERVICES = ("ingest", "metrics", "alerts", "gateway")
#: kube-score's grades (scorecard.Grade): 1 critical, 5 warning, 7 almost OK, 10 OK.
CRITICAL, WARNING = 1, 5
#: The annotation that must accompany ``kube-score/ignore``: "check-id: why; other-id: why".
REASONS = "ioc-platform/kube-score-ignore-reasons"


def kube_score() -> str:
    found = shutil.which("kube-score") or str(Path.home() / ".cache/ioc-platform/bin/kube-score")
    assert Path(found).is_file(), "kube-score is missing: run scripts/test-prerequisites.sh"
    return found


def pods() -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in DOCS
        if d["kind"] in {"Deployment", "Job"}
    ]


def test_kube_score_finds_nothing_critical() -> None:
    result = subprocess.run(
        [kube_score(), "score", "--output-format", "json", *map(str, MANIFESTS)],
        capture_output=True,
        text=True,
    )
    assert result.stdout, result.stderr
    findings = []
    for obj in json.loads(result.stdout):
        for check in obj["checks"]:
            if not check["skipped"] and check["grade"] in {CRITICAL, WARNING}:
                comments = "; ".join(c["summary"] for c in check["comments"] or [])
                findings.append(f"{obj['object_name']}: {check['check']['id']}: {comments}")
    assert not findings, "\n".join(findings)


def test_every_kube_score_ignore_says_why() -> None:
    for doc in DOCS:
        annotations = doc["metadata"].get("annotations", {})
        ignored = [c.strip() for c in annotations.get("kube-score/ignore", "").split(",")]
        reasons = dict(
            part.split(":", 1) for part in annotations.get(REASONS, "").split(";") if ":" in part
        )
        for check in filter(None, ignored):
            assert reasons.get(check, "").strip(), f"{doc['metadata']['name']}: why ignore {check}?"


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    namespace = next(d for d in DOCS if d["kind"] == "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace") for d in DOCS if d["kind"] != "Namespace"} == {"ioc"}


@pytest.mark.parametrize(("name", "spec"), pods(), ids=[n for n, _ in pods()])
def test_every_pod_meets_the_restricted_standard(name: str, spec: dict[str, Any]) -> None:
    pod = spec.get("securityContext", {})
    assert pod.get("runAsNonRoot") is True
    assert pod.get("runAsUser", 0) >= 10000
    assert pod.get("runAsGroup", 0) >= 10000
    assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host)
    for container in spec["containers"] + spec.get("initContainers", []):
        ctx = container.get("securityContext", {})
        assert ctx.get("allowPrivilegeEscalation") is False, container["name"]
        assert ctx.get("capabilities") == {"drop": ["ALL"]}, container["name"]
        assert ctx.get("seccompProfile", pod["seccompProfile"]) == {"type": "RuntimeDefault"}
        assert not ctx.get("privileged")
        assert ctx.get("readOnlyRootFilesystem") is True, container["name"]
        resources = container["resources"]
        for kind in ("cpu", "memory", "ephemeral-storage"):
            assert kind in resources["requests"], (name, kind)
            assert kind in resources["limits"], (name, kind)


@pytest.mark.parametrize(("name", "spec"), pods(), ids=[n for n, _ in pods()])
def test_a_read_only_root_has_a_writable_tmp(name: str, spec: dict[str, Any]) -> None:
    """Python's tempfile (multipart uploads over 1 MB spool to disk) needs a writable /tmp."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for container in spec["containers"]:
        if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
            continue
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        assert TMP in mounts, f"{name}/{container['name']} has no writable /tmp"
        tmp = mounts[TMP]
        assert not tmp.get("readOnly")
        assert "emptyDir" in volumes[tmp["name"]], f"{name}: /tmp is not an emptyDir"


def test_autoscaled_deployments_set_no_replicas_and_have_a_budget_and_spread() -> None:
    deployments = {d["metadata"]["name"]: d for d in DOCS if d["kind"] == "Deployment"}
    hpas = {
        d["spec"]["scaleTargetRef"]["name"] for d in DOCS if d["kind"] == "HorizontalPodAutoscaler"
    }
    budgets = [d for d in DOCS if d["kind"] == "PodDisruptionBudget"]
    assert set(deployments) == {f"ioc-{s}" for s in SERVICES}
    for name, deployment in deployments.items():
        assert name in hpas
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the count"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(
            all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
            for b in budgets
        ), f"{name} has no PodDisruptionBudget"
        anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        terms = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == labels
