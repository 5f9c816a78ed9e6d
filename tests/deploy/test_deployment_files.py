"""The province-server files agree with the code: compose schema, Dockerfiles, Kubernetes,
Prometheus rules — and every setting a service needs has a value where it is deployed."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from ioc_common.settings import ServiceSettings, settings_classes

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = sorted(ep.name for ep in entry_points(group="ioc.services"))


def env_names(cls: type[ServiceSettings]) -> dict[str, bool]:
    """Env variable name of each field → whether the field is required."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    names: dict[str, bool] = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        env = str(choices[0]) if choices else f"{prefix}{name.upper()}"
        names[env] = field.is_required()
    return names


def compose_env(service: str) -> set[str]:
    spec = COMPOSE["services"][service]
    env = set(spec.get("environment", {}))
    if spec.get("env_file"):
        for line in (ROOT / ".env.example").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                env.add(line.split("=", 1)[0])
    return env


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_deployed_with_its_own_image(service: str) -> None:
    spec = COMPOSE["services"][service]
    text = (ROOT / spec["build"]["dockerfile"]).read_text()
    factory = next(ep.value for ep in entry_points(group="ioc.services") if ep.name == service)
    # The shared Dockerfile runs ioc_${IOC_SERVICE}.app:create_app with SERVICE as a build arg.
    assert factory == f"ioc_{service}.app:create_app"
    assert spec["build"]["args"]["SERVICE"] == service
    assert "--factory ioc_${IOC_SERVICE}.app:create_app" in text
    assert "EXPOSE 8000" in text
    assert any(p.endswith(":8000") for p in spec["ports"])
    assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    prometheus = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    assert f'"{service}:8000"' in prometheus


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_a_service_reads_is_real_and_required_ones_are_set(service: str) -> None:
    classes = settings_classes(service)
    assert classes, f"ioc_{service} has no ServiceSettings subclass"
    known: dict[str, bool] = {}
    for cls in classes:
        known |= env_names(cls)
    given = compose_env(service)
    missing = {name for name, required in known.items() if required and name not in given}
    assert not missing, f"compose gives {service} no value for {sorted(missing)}"
    prefix = f"IOC_{service.upper()}_"
    unknown = {name for name in given if name.startswith(prefix) and name not in known}
    assert not unknown, f"compose sets {sorted(unknown)} but {service} has no such setting"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= given


def test_dockerfiles_pass_hadolint() -> None:
    dockerfiles = [ROOT / "deploy" / "Dockerfile"]
    result = subprocess.run(
        [BIN / "hadolint", *map(str, dockerfiles)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in dockerfiles:
        text = path.read_text()
        assert text.count("FROM ") >= 2, f"{path} is not multi-stage"
        assert re.search(r"^USER (?!root|0\b)", text, re.M), f"{path} runs as root"
        assert "HEALTHCHECK" in text


def test_kubernetes_manifests_match_the_schemas() -> None:
    manifests = sorted(str(p) for p in (ROOT / "deploy/k8s").glob("*.yaml"))
    result = subprocess.run(
        [BIN / "kubernetes-validate", "--strict", *manifests], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {
        doc["kind"]
        for path in manifests
        for doc in yaml.safe_load_all(Path(path).read_text())
        if doc
    }
    assert {
        "Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "Job",
    } <= kinds  # fmt: skip


def test_prometheus_rules_cover_the_platform_failures() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/platform-alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {
        "IocServiceDown",
        "IocConsumerLagGrowing",
        "IocDeadLettersGrowing",
        "IocNotificationOutboxBacklog",
        "IocNotificationsDead",
    }
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    # Delivered notifications stay in the outbox table: only waiting ones are a backlog.
    assert 'status="pending"' in by_name["IocNotificationOutboxBacklog"]["expr"]
    assert 'status="dead"' in by_name["IocNotificationsDead"]["expr"]
