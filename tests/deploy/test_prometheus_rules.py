"""The platform's own alert rules fire when they should, proven with promtool (Debian's
``prometheus`` package, installed by scripts/test-prerequisites.sh):

- ``promtool check config`` on the shipped deploy/prometheus/prometheus.yml, where it lies (its
  ``rule_files`` path is relative, so the same file works in the compose mount);
- ``promtool test rules`` on deploy/prometheus/tests/*.yml: input series → expected alerts,
  at least one firing case for every rule, the first dead letter among them;
- every counter a rule reads exists at zero from start-up for its known labels, so
  ``increase()`` sees the first event; database- and group-wide gauges are taken with ``max``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from ioc_alerts.observability import AlertsMetrics
from ioc_metrics.instruments import DEAD_LETTER_REASONS, Instruments

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = yaml.safe_load((PROMETHEUS / "platform-alerts.yml").read_text())
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
#: Gauges every replica reports alike (one database, one consumer group): never summed.
SHARED_GAUGES = ("ioc_alerts_outbox_depth", "ioc_metrics_consumer_lag", "ioc_alerts_consumer_lag")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run scripts/test-prerequisites.sh (Debian's prometheus)"
    return found


def run_promtool(*args: str) -> str:
    result = subprocess.run([promtool(), *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules() -> dict[str, dict[str, object]]:
    return {r["alert"]: r for g in RULES["groups"] for r in g["rules"]}


def test_the_shipped_prometheus_config_passes_promtool_where_it_lies() -> None:
    out = run_promtool("check", "config", "deploy/prometheus/prometheus.yml")
    assert "1 rule files found" in out


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    assert RULE_TESTS
    out = run_promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in RULE_TESTS))
    assert "SUCCESS" in out


def test_every_rule_has_a_test_that_fires_it_and_one_that_does_not() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert set(rules()) <= fired, f"no firing test for {sorted(set(rules()) - fired)}"
    assert set(rules()) <= quiet, f"no silent test for {sorted(set(rules()) - quiet)}"


def test_shared_gauges_are_taken_with_max_in_rules_and_dashboards() -> None:
    dashboards = [
        target["expr"]
        for path in (ROOT / "deploy/grafana/dashboards").glob("*.json")
        for panel in yaml.safe_load(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]
    exprs = [str(r["expr"]) for r in rules().values()] + dashboards
    for gauge in SHARED_GAUGES:
        uses = [e for e in exprs if gauge in e]
        assert uses, f"{gauge} is watched nowhere"
        for expr in uses:
            assert re.search(rf"max(\s+by\s*\([^)]*\))?\s*\(\s*{gauge}", expr), expr


def _samples(registry: CollectorRegistry) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


def test_every_counter_a_rule_reads_exists_at_zero_from_start_up() -> None:
    registry = CollectorRegistry()
    Instruments(registry)
    AlertsMetrics(registry)
    samples = _samples(registry)
    read = {
        name
        for r in rules().values()
        for name in re.findall(r"\b(ioc_\w+_total)\b", str(r["expr"]))
    }
    assert {
        "ioc_metrics_dead_letters_total",
        "ioc_metrics_batch_failures_total",
        "ioc_alerts_batch_failures_total",
    } <= read
    for name in sorted(read):
        assert samples.get(name), f"{name} has no series until its first event"
    reasons = {s["reason"] for s in samples["ioc_metrics_dead_letters_total"]}
    assert reasons == set(DEAD_LETTER_REASONS)
    results = {s["result"] for s in samples["ioc_alerts_metric_updates_total"]}
    assert "invalid" in results


def test_every_dead_letter_reason_in_the_code_is_known() -> None:
    source = "\n".join(
        p.read_text() for p in (ROOT / "services/metrics/src/ioc_metrics").rglob("*.py")
    )
    poison = set(re.findall(r'Poison\(\s*"(\w+)"', source))
    assert poison, "no Poison(...) reasons found: has the code moved?"
    assert poison <= set(DEAD_LETTER_REASONS)
    for reason in ("undecodable", "schema_invalid"):
        assert f'"{reason}"' in source


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_rule_tests_point_at_the_shipped_rules(path: Path) -> None:
    spec = yaml.safe_load(path.read_text())
    targets = {(path.parent / f).resolve() for f in spec["rule_files"]}
    assert targets == {(PROMETHEUS / "platform-alerts.yml").resolve()}
