"""Settings shared by every service. Each service subclasses ``ServiceSettings`` with its own
``IOC_<SERVICE>_`` prefix; the two connection strings keep their conventional names."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ioc_common.events import DEDUP_WINDOW_DAYS
from ioc_common.secrets import SecretValue, refuse_weak

#: Days an event's identity stays remembered once handled (``events.DEDUP_WINDOW_DAYS``): the
#: setting of ingest and metrics alike.
DedupWindowDays = Annotated[int, Field(default=DEDUP_WINDOW_DAYS, ge=1, le=3650)]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    database_url: str = Field(
        default="postgresql+asyncpg://ioc@127.0.0.1:5432/ioc",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    # "auto" tries the idempotent producer and falls back when the broker refuses
    # InitProducerId (Tansu does); "on" fails instead of falling back.
    kafka_idempotence: Literal["auto", "on", "off"] = Field(
        default="auto",
        validation_alias=AliasChoices("IOC_KAFKA_IDEMPOTENCE", "kafka_idempotence"),
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("IOC_LOG_LEVEL", "log_level")
    )
    #: ``production`` (the default) refuses weak or missing secrets at start-up; ``dev`` is
    #: what ``ioc dev`` and the test suite run with (``ioc_common.secrets``).
    environment: Literal["production", "dev"] = Field(
        default="production", validation_alias=AliasChoices("IOC_ENV", "environment")
    )
    # How every Kafka client authenticates (``ioc_common.kafka.client_security``); the
    # default, PLAINTEXT, is for ``ioc dev`` and tests. Deployments use SASL_PLAINTEXT on a
    # private network or SASL_SSL, one SCRAM user per service (docs/admin.md, "Kafka security").
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        default="PLAINTEXT",
        validation_alias=AliasChoices("IOC_KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol"),
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512",
        validation_alias=AliasChoices("IOC_KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism"),
    )
    kafka_sasl_username: str = Field(
        default="",
        validation_alias=AliasChoices("IOC_KAFKA_SASL_USERNAME", "kafka_sasl_username"),
    )
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("IOC_KAFKA_SASL_PASSWORD", "kafka_sasl_password"),
    )
    # PEM files; without a CA file the system's trust store verifies the broker.
    kafka_ssl_cafile: str = Field(
        default="", validation_alias=AliasChoices("IOC_KAFKA_SSL_CAFILE", "kafka_ssl_cafile")
    )
    kafka_ssl_certfile: str = Field(
        default="",
        validation_alias=AliasChoices("IOC_KAFKA_SSL_CERTFILE", "kafka_ssl_certfile"),
    )
    kafka_ssl_keyfile: str = Field(
        default="", validation_alias=AliasChoices("IOC_KAFKA_SSL_KEYFILE", "kafka_ssl_keyfile")
    )
    host: str = "127.0.0.1"
    port: int = 8000

    def secrets(self) -> dict[str, SecretValue]:
        """This service's secrets by environment variable name, judged at start-up. A
        service adds its own; the Kafka password counts once SASL is on."""
        named: dict[str, SecretValue] = {}
        if self.kafka_security_protocol.startswith("SASL_"):
            named["IOC_KAFKA_SASL_PASSWORD"] = self.kafka_sasl_password
        return named

    def refuse_weak_secrets(self) -> None:
        """Outside ``ioc dev``, stop start-up on a missing, short or example secret."""
        if self.environment != "dev":
            refuse_weak(self.secrets())

    @model_validator(mode="after")
    def _kafka_sasl_needs_credentials(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"IOC_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} cần "
                "IOC_KAFKA_SASL_USERNAME và IOC_KAFKA_SASL_PASSWORD / "
                "needs IOC_KAFKA_SASL_USERNAME and IOC_KAFKA_SASL_PASSWORD"
            )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError(
                "IOC_KAFKA_SSL_CERTFILE và IOC_KAFKA_SSL_KEYFILE phải đi cùng nhau / "
                "IOC_KAFKA_SSL_CERTFILE and IOC_KAFKA_SSL_KEYFILE go together"
            )
        return self


def settings_classes(service: str) -> list[type[ServiceSettings]]:
    """Every ``ServiceSettings`` subclass defined in the package ``ioc_<service>`` (for the
    generated settings tables and the deployment files' cross-check)."""
    package = importlib.import_module(f"ioc_{service}")
    found: list[type[ServiceSettings]] = []
    for info in pkgutil.walk_packages(package.__path__, f"ioc_{service}."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ServiceSettings)
                and value is not ServiceSettings
                and value.__module__ == info.name
            ):
                found.append(value)
    return found
