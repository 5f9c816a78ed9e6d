"""Who may do what on Kafka: one SCRAM user per service and the ACLs that follow the
architecture's arrows (DESIGN.md §3). Everything else is denied by the broker's authorizer.

This table is the only place the grants are written down. ``acl_commands`` renders it as
arguments of Kafka's own ``kafka-acls.sh`` (``org.apache.kafka.tools.AclCommand``); the
docker-compose ``kafka-init`` job and the Kubernetes ``ioc-kafka-init`` job run exactly those
lines (``tests/deploy`` checks), and the connected test applies them to a real broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ioc_common.topics import ALERTS, DLQ, METRICS_UPDATED, TELEMETRY_PREFIX

#: The broker's own and the operators' user: super user, never used by a service.
ADMIN_USER: Final = "admin"


@dataclass(frozen=True, slots=True)
class Grant:
    resource: Literal["topic", "group"]
    name: str
    operations: tuple[Literal["Read", "Write"], ...]
    #: ``prefixed`` matches every name starting with ``name``.
    pattern: Literal["literal", "prefixed"] = "literal"


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    service: str
    user: str
    grants: tuple[Grant, ...]

    @property
    def principal(self) -> str:
        return f"User:{self.user}"


def _read(topic: str, pattern: Literal["literal", "prefixed"] = "literal") -> Grant:
    return Grant("topic", topic, ("Read",), pattern)


def _write(topic: str, pattern: Literal["literal", "prefixed"] = "literal") -> Grant:
    return Grant("topic", topic, ("Write",), pattern)


def _group(name: str, pattern: Literal["literal", "prefixed"] = "literal") -> Grant:
    return Grant("group", name, ("Read",), pattern)


# Read and Write imply Describe (Kafka's ACL rules); Write on a topic is enough for the
# idempotent producer (KIP-679). Group names are the services' default group settings.
PRINCIPALS: Final[tuple[ServicePrincipal, ...]] = (
    ServicePrincipal("ingest", "ioc-ingest", (_write(TELEMETRY_PREFIX, "prefixed"),)),
    ServicePrincipal(
        "metrics",
        "ioc-metrics",
        (
            _read(TELEMETRY_PREFIX, "prefixed"),
            _group("ioc-metrics"),
            _write(METRICS_UPDATED),
            _write(DLQ),
        ),
    ),
    ServicePrincipal(
        "alerts",
        "ioc-alerts",
        (_read(METRICS_UPDATED), _group("ioc-alerts"), _write(ALERTS), _write(DLQ)),
    ),
    ServicePrincipal(
        "gateway",
        "ioc-gateway",
        (
            _read(TELEMETRY_PREFIX, "prefixed"),
            _read(METRICS_UPDATED),
            _read(ALERTS),
            # Each gateway replica joins a group of its own: ioc-gateway-<random>.
            _group("ioc-gateway", "prefixed"),
        ),
    ),
)


def principal_of(service: str) -> ServicePrincipal:
    return next(p for p in PRINCIPALS if p.service == service)


def acl_commands() -> list[list[str]]:
    """``kafka-acls.sh`` arguments, one command per grant (without the connection options)."""
    commands: list[list[str]] = []
    for who in PRINCIPALS:
        for grant in who.grants:
            args = ["--add", "--allow-principal", who.principal]
            for operation in grant.operations:
                args += ["--operation", operation]
            args += [f"--{grant.resource}", grant.name, "--resource-pattern-type", grant.pattern]
            commands.append(args)
    return commands


def acl_script_lines(command: str = "acls") -> list[str]:
    """The commands as shell lines, the form the deployment files contain: ``command`` is a
    shell function there that runs kafka-acls.sh with the admin's connection options."""
    return [" ".join([command, *args]) for args in acl_commands()]
