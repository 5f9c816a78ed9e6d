"""Secrets that refuse to be weak.

Outside ``ioc dev`` (``IOC_ENV=production``, the default) a service does not start when one of
its secrets is missing, shorter than 32 bytes, or an obvious placeholder (``CHANGE-ME-…``, the
values shipped in ``.env.example`` and the Kubernetes examples). The message names the
environment variable and says how to make a strong one: ``ioc secrets generate``.

Each settings class lists its own secrets (``ServiceSettings.secrets``); this module holds the
one rule that judges them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Final

from pydantic import SecretStr

#: A secret shorter than this is refused (256 bits of a random token are 43 characters).
MIN_SECRET_BYTES: Final = 32
#: Text that only a placeholder or an example contains (compared case-insensitively).
PLACEHOLDER_MARKERS: Final = (
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replace_me",
    "example",
    "placeholder",
    "dummy",
    "insecure",
    "not-a-secret",
    "your-",
    "xxxxxxxx",
)
#: Fewer distinct characters than this is a typed pattern, not a random secret.
_MIN_DISTINCT_CHARS: Final = 10

SecretValue = SecretStr | str | None


class WeakSecretError(RuntimeError):
    """A service was configured with a secret it must not run with."""


def weakness(value: SecretValue) -> str | None:
    """Why this secret must not be used (Vietnamese / English), or None when it may."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text:
        return "chưa đặt / missing"
    lowered = text.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "là giá trị mẫu / is a placeholder or example value"
    if len(text.encode()) < MIN_SECRET_BYTES:
        return f"ngắn hơn {MIN_SECRET_BYTES} byte / shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(text)) < _MIN_DISTINCT_CHARS:
        return "quá dễ đoán / too predictable (too few distinct characters)"
    return None


def refuse_weak(named: Mapping[str, SecretValue]) -> None:
    """Raise ``WeakSecretError`` naming every weak one of these ``{ENV_NAME: value}``."""
    problems = [f"{name}: {why}" for name, value in named.items() if (why := weakness(value))]
    if problems:
        raise WeakSecretError(
            "Bí mật yếu hoặc thiếu; dịch vụ không khởi động / weak or missing secrets; the "
            "service will not start:\n  "
            + "\n  ".join(problems)
            + "\nTạo giá trị mạnh / make strong ones: `ioc secrets generate` "
            "(IOC_ENV=dev only for `ioc dev` on a laptop)."
        )


#: Every secret of a deployment's ``.env`` (docker compose), in the order ``.env.example``
#: lists them: what ``ioc secrets generate`` prints.
DEPLOYMENT_SECRETS: Final = (
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "IOC_KAFKA_ADMIN_PASSWORD",
    "IOC_KAFKA_INGEST_PASSWORD",
    "IOC_KAFKA_METRICS_PASSWORD",
    "IOC_KAFKA_ALERTS_PASSWORD",
    "IOC_KAFKA_GATEWAY_PASSWORD",
    "IOC_METRICS_SERVICE_TOKEN",
    "IOC_ALERTS_SERVICE_TOKEN",
    "IOC_ALERTS_ACTOR_KEY",
    "IOC_GATEWAY_SESSION_SECRET",
)


def generate_secret() -> str:
    """A strong secret: 256 random bits as 64 hex characters (safe inside URLs, shell and
    Kafka's SCRAM configuration syntax alike)."""
    return secrets.token_hex(32)


def generate_env() -> str:
    """``NAME=value`` lines with a fresh strong value for each deployment secret."""
    return "".join(f"{name}={generate_secret()}\n" for name in DEPLOYMENT_SECRETS)
