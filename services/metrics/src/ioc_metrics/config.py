"""Settings of the metrics service (environment prefix ``IOC_METRICS_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from ioc_common.secrets import SecretValue
from ioc_common.settings import DedupWindowDays, ServiceSettings
from ioc_common.topics import TELEMETRY_TOPICS


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_METRICS_", extra="ignore", frozen=True)

    group_id: str = Field(default="ioc-metrics", min_length=1, max_length=128)
    batch_size: int = Field(default=7500, ge=1, le=50_000, description="records per transaction")
    #: A batch is cut when this wait ends or `batch_size` records are in: latency stays bounded
    #: at low rates, batches grow under backlog.
    poll_timeout_ms: int = Field(default=100, ge=10, le=60_000)
    #: Off for an API-only replica (the consumer group then scales on other replicas).
    consumer_enabled: bool = True
    #: Days an event id stays remembered once counted (docs/metrics.md, "Dedup window").
    dedup_window_days: DedupWindowDays
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    #: The telemetry topics to consume (tests point a service at topics of their own).
    topics: tuple[str, ...] = TELEMETRY_TOPICS
    #: API callers (the gateway) must send it as ``Authorization: Bearer <token>``. Required
    #: outside ``ioc dev``.
    service_token: SecretStr | None = None
    port: int = 8001

    def secrets(self) -> dict[str, SecretValue]:
        return super().secrets() | {"IOC_METRICS_SERVICE_TOKEN": self.service_token}
