"""Settings shared by every service. Each service subclasses ``ServiceSettings`` with its own
``IOC_<SERVICE>_`` prefix; the two connection strings keep their conventional names."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    host: str = "127.0.0.1"
    port: int = 8000


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
