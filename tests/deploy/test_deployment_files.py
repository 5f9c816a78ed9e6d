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

from ioc_common.kafka.acls import PRINCIPALS, acl_script_lines, principal_of
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
        "PodDisruptionBudget", "Job", "NetworkPolicy",
    } <= kinds  # fmt: skip


def test_prometheus_rules_cover_the_platform_failures() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/platform-alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {
        "IocServiceDown",
        "IocConsumerLagGrowing",
        "IocAlertsConsumerLagGrowing",
        "IocBatchesFailing",
        "IocDeadLettersGrowing",
        "IocNotificationOutboxBacklog",
        "IocNotificationsDead",
    }
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    # Delivered notifications stay in the outbox table: only waiting ones are a backlog.
    assert 'status="pending"' in by_name["IocNotificationOutboxBacklog"]["expr"]
    assert 'status="dead"' in by_name["IocNotificationsDead"]["expr"]


# --- trust boundaries: published ports, per-service secrets, Kafka logins and ACLs -----------

K8S = [
    doc
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc
]
#: Secrets each container may receive (compose variables / Kubernetes Secret keys).
OWN_SECRETS = {
    "ingest": {"POSTGRES_PASSWORD", "IOC_KAFKA_INGEST_PASSWORD"},
    "metrics": {"POSTGRES_PASSWORD", "IOC_KAFKA_METRICS_PASSWORD", "IOC_METRICS_SERVICE_TOKEN"},
    "alerts": {
        "POSTGRES_PASSWORD", "IOC_KAFKA_ALERTS_PASSWORD", "IOC_ALERTS_SERVICE_TOKEN",
        "IOC_ALERTS_ACTOR_KEY",
    },
    "gateway": {
        "POSTGRES_PASSWORD", "IOC_KAFKA_GATEWAY_PASSWORD", "IOC_GATEWAY_SESSION_SECRET",
        "IOC_METRICS_SERVICE_TOKEN", "IOC_ALERTS_SERVICE_TOKEN", "IOC_ALERTS_ACTOR_KEY",
    },
    "migrate": {"POSTGRES_PASSWORD"},
    "kafka": {"IOC_KAFKA_ADMIN_PASSWORD"},
    "kafka-init": {
        "IOC_KAFKA_ADMIN_PASSWORD", "IOC_KAFKA_INGEST_PASSWORD", "IOC_KAFKA_METRICS_PASSWORD",
        "IOC_KAFKA_ALERTS_PASSWORD", "IOC_KAFKA_GATEWAY_PASSWORD",
    },
    "postgres": {"POSTGRES_PASSWORD"},
    "grafana": {"GRAFANA_ADMIN_PASSWORD"},
}  # fmt: skip


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_only_ingest_gateway_and_grafana_are_published_on_the_host() -> None:
    published = {name for name, spec in COMPOSE["services"].items() if spec.get("ports")}
    assert published == {"ingest", "gateway", "grafana"}
    admin = yaml.safe_load((ROOT / "docker-compose.admin.yml").read_text())
    for name, spec in admin["services"].items():
        assert all(p.startswith("127.0.0.1:") for p in spec["ports"]), name
        assert name not in {"kafka", "postgres"}


def test_each_container_gets_only_its_own_secrets() -> None:
    secrets = {name for name, value in env_example().items() if value.startswith("CHANGE-ME")}
    assert secrets == set().union(*OWN_SECRETS.values())
    for name, spec in COMPOSE["services"].items():
        assert "env_file" not in spec, f"{name} would get every secret in .env"
        text = yaml.safe_dump(spec.get("environment", {}))
        given = {v for v in re.findall(r"\$\{(\w+)", text) if v in secrets}
        assert given == OWN_SECRETS.get(name, set()), name


def test_compose_services_log_in_to_kafka_as_their_own_principal() -> None:
    for service in SERVICES:
        if service not in {p.service for p in PRINCIPALS}:
            continue
        env = COMPOSE["services"][service]["environment"]
        assert env["IOC_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["IOC_KAFKA_SASL_USERNAME"] == principal_of(service).user
        assert env["IOC_KAFKA_SASL_PASSWORD"].startswith(f"${{IOC_KAFKA_{service.upper()}_")


def _script_acls(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip().startswith("acls --")]


def test_kafka_acls_in_compose_and_kubernetes_are_the_table() -> None:
    compose_script = COMPOSE["services"]["kafka-init"]["command"][0]
    assert _script_acls(compose_script) == acl_script_lines()
    k8s_script = next(
        d for d in K8S if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "ioc-kafka-init"
    )["data"]["kafka-init.sh"]
    assert _script_acls(k8s_script) == acl_script_lines()
    for script in (compose_script, k8s_script):
        for who in PRINCIPALS:
            assert f"user {who.user} " in script


def test_kafka_acl_groups_are_the_services_default_groups() -> None:
    def groups(service: str) -> set[str]:
        return {g.name for g in principal_of(service).grants if g.resource == "group"}

    defaults = {
        service: {
            str(cls.model_fields[name].default)
            for cls in settings_classes(service)
            for name in ("group_id", "group_prefix")
            if name in cls.model_fields
        }
        for service in ("metrics", "alerts", "gateway")
    }
    assert {s: groups(s) for s in defaults} == defaults
    assert groups("ingest") == set()


def _pods() -> list[tuple[str, dict[str, str], dict[str, object]]]:
    """(name, labels, pod spec) of every pod template in the manifests."""
    return [
        (d["metadata"]["name"], d["spec"]["template"]["metadata"]["labels"],
         d["spec"]["template"]["spec"])
        for d in K8S
        if d["kind"] in {"Deployment", "Job"}
    ]  # fmt: skip


def _selects(selector: dict[str, object], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    assert isinstance(match, dict)
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions", []):  # type: ignore[attr-defined]
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def test_every_network_policy_selects_existing_pods() -> None:
    policies = [d for d in K8S if d["kind"] == "NetworkPolicy"]
    default = next(p for p in policies if p["metadata"]["name"] == "default-deny")
    assert default["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    pods = _pods()
    for policy in policies:
        spec = policy["spec"]
        selected = [name for name, labels, _ in pods if _selects(spec["podSelector"], labels)]
        assert selected, f"{policy['metadata']['name']} selects no pod"
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert any(_selects(peer["podSelector"], lb) for _, lb, _ in pods), policy
    # Only ingest and the gateway accept connections from anyone.
    open_to_all = {
        name
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if "from" not in rule
        for name, labels, _ in pods
        if _selects(p["spec"]["podSelector"], labels)
    }
    assert open_to_all == {"ioc-ingest", "ioc-gateway"}


def test_each_kubernetes_secret_holds_only_what_its_pod_reads() -> None:
    secrets = {d["metadata"]["name"]: set(d["stringData"]) for d in K8S if d["kind"] == "Secret"}
    mounted: dict[str, set[str]] = {}
    for name, _, spec in _pods():
        for container in spec["containers"]:  # type: ignore[attr-defined]
            env_from = container.get("envFrom", [])
            refs = {e["secretRef"]["name"] for e in env_from if "secretRef" in e}
            refs |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            mounted[name] = refs
    for service in SERVICES:
        assert mounted[f"ioc-{service}"] == {f"ioc-{service}"}
        known: set[str] = set()
        for cls in settings_classes(service):
            known |= set(env_names(cls))
        assert secrets[f"ioc-{service}"] <= known, service
        assert {"DATABASE_URL", "IOC_KAFKA_SASL_USERNAME", "IOC_KAFKA_SASL_PASSWORD"} <= (
            secrets[f"ioc-{service}"]
        )
    assert mounted["ioc-migrate"] == {"ioc-migrate"}
    assert secrets["ioc-migrate"] == {"DATABASE_URL"}
    assert mounted["ioc-kafka-init"] == {"ioc-kafka-admin", *(f"ioc-{s}" for s in SERVICES)}
    for doc in (d for d in K8S if d["kind"] == "Secret"):
        for key, value in doc["stringData"].items():
            # Placeholders only (services refuse them outside dev); a login name is no secret.
            assert "CHANGE-ME" in value or key == "IOC_KAFKA_SASL_USERNAME", key
