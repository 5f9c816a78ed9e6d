"""Outside ``ioc dev`` a service refuses to start with a missing, short or example secret, and
says which setting; ``ioc secrets generate`` makes strong ones for every deployment secret."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ioc_alerts.app import create_app as alerts_app
from ioc_alerts.config import AlertsSettings
from ioc_common.secrets import DEPLOYMENT_SECRETS, WeakSecretError, generate_secret, weakness
from ioc_gateway.app import create_app as gateway_app
from ioc_gateway.config import GatewaySettings
from ioc_ingest.app import create_app as ingest_app
from ioc_ingest.config import IngestSettings
from ioc_metrics.app import create_app as metrics_app
from ioc_metrics.config import MetricsSettings

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
STRONG = generate_secret


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "missing"),
        ("", "missing"),
        ("CHANGE-ME-gateway-session-secret-with-enough-length-0123456789", "placeholder"),
        ("an-example-value-that-is-long-enough-to-pass-the-length-rule", "placeholder"),
        ("s3cr3t-but-short", "shorter than 32"),
        ("ab" * 32, "predictable"),
    ],
)
def test_weak_secrets_are_named_with_the_reason(value: str | None, why: str) -> None:
    reason = weakness(value)
    assert reason is not None
    assert why in reason


def test_generated_secrets_are_strong_and_distinct() -> None:
    values = [generate_secret() for _ in range(50)]
    assert all(weakness(v) is None for v in values)
    assert len(set(values)) == 50


def test_every_example_secret_is_refused_and_every_deployment_secret_is_generated() -> None:
    example = env_example()
    placeholders = {k for k, v in example.items() if "CHANGE-ME" in v}
    assert placeholders == set(DEPLOYMENT_SECRETS)
    assert all(weakness(example[name]) for name in placeholders)

    printed = subprocess.run(
        [sys.executable, "-m", "ioc_common.cli", "secrets", "generate"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    generated = dict(line.split("=", 1) for line in printed.splitlines())
    assert list(generated) == list(DEPLOYMENT_SECRETS)
    assert all(weakness(v) is None for v in generated.values())


def _production(**values: Any) -> dict[str, Any]:
    return {"environment": "production", **values}


def strong_alerts(**values: Any) -> dict[str, Any]:
    """Alerts settings that may start in production (secrets, a reachable dashboard)."""
    return {
        "service_token": STRONG(),
        "actor_key": STRONG(),
        "dashboard_url": "https://ioc.example.gov.vn",
        **values,
    }


STRONG_GATEWAY = {
    "session_secret": STRONG(),
    "metrics_service_token": STRONG(),
    "alerts_service_token": STRONG(),
    "actor_key": STRONG(),
}

#: (service, factory, settings that must refuse to start, the variable the message names)
REFUSED: list[tuple[str, Callable[[], object], str]] = [
    (
        "metrics without a token",
        lambda: metrics_app(MetricsSettings(**_production())),
        "IOC_METRICS_SERVICE_TOKEN",
    ),
    (
        "alerts with a short actor key",
        lambda: alerts_app(AlertsSettings(**_production(**strong_alerts(actor_key="short")))),
        "IOC_ALERTS_ACTOR_KEY",
    ),
    (
        "gateway with the .env.example session secret",
        lambda: gateway_app(
            GatewaySettings(
                **_production(
                    **STRONG_GATEWAY
                    | {"session_secret": env_example()["IOC_GATEWAY_SESSION_SECRET"]}
                )
            )
        ),
        "IOC_GATEWAY_SESSION_SECRET",
    ),
    (
        "gateway without an actor key",
        lambda: gateway_app(GatewaySettings(**_production(**STRONG_GATEWAY | {"actor_key": None}))),
        "IOC_GATEWAY_ACTOR_KEY",
    ),
    (
        "ingest on SASL with the example Kafka password",
        lambda: ingest_app(
            IngestSettings(
                **_production(
                    kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_username="ingest",
                    kafka_sasl_password=env_example()["IOC_KAFKA_INGEST_PASSWORD"],
                )
            )
        ),
        "IOC_KAFKA_SASL_PASSWORD",
    ),
]


@pytest.mark.parametrize(("case", "start", "setting"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_weak_secret_stops_start_up_naming_the_setting(
    case: str, start: Callable[[], object], setting: str
) -> None:
    with pytest.raises(WeakSecretError) as refused:
        start()
    assert setting in str(refused.value)
    assert "ioc secrets generate" in str(refused.value)


def test_strong_secrets_start_and_dev_mode_needs_none() -> None:
    metrics_app(MetricsSettings(**_production(service_token=STRONG())))
    alerts_app(AlertsSettings(**_production(**strong_alerts())))
    gateway_app(GatewaySettings(**_production(**STRONG_GATEWAY)))
    ingest_app(IngestSettings(**_production()))
    metrics_app(MetricsSettings(environment="dev"))


def test_no_secret_value_appears_in_the_refusal() -> None:
    secret = "CHANGE-ME-" + STRONG()
    with pytest.raises(WeakSecretError) as refused:
        metrics_app(MetricsSettings(**_production(service_token=secret)))
    assert secret not in str(refused.value)


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"dashboard_url": "http://127.0.0.1:8003"}, "IOC_ALERTS_DASHBOARD_URL"),
        ({"dashboard_url": "http://localhost:8004"}, "IOC_ALERTS_DASHBOARD_URL"),
        ({"smtp_host": "smtp.example.gov.vn", "smtp_port": 587}, "IOC_ALERTS_SMTP_STARTTLS"),
    ],
    ids=["dashboard-on-loopback", "dashboard-on-localhost", "smtp-587-without-starttls"],
)
def test_alerts_refuse_undeliverable_settings_outside_dev(
    values: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ValueError, match=variable) as refused:
        AlertsSettings(**_production(**strong_alerts(**values)))
    message = str(refused.value)
    assert " / " in message  # Vietnamese, then English
    AlertsSettings(environment="dev", **strong_alerts(**values))  # ioc dev: the defaults


def test_alerts_accept_starttls_and_a_local_relay_in_production() -> None:
    AlertsSettings(
        **_production(
            **strong_alerts(smtp_host="smtp.example.gov.vn", smtp_port=587, smtp_starttls=True)
        )
    )
    AlertsSettings(**_production(**strong_alerts(smtp_host="127.0.0.1", smtp_port=587)))
    AlertsSettings(**_production(**strong_alerts(smtp_host="smtp-sink", smtp_port=1025)))
