"""The ingest service's settings (environment variables ``IOC_INGEST_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ioc_common.settings import DedupWindowDays, ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_INGEST_", extra="ignore", frozen=True)

    max_batch_events: int = Field(default=5_000, ge=1, le=100_000)
    #: JSON request bodies; CSV uploads have their own cap.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_csv_line_chars: int = Field(default=4_096, ge=64)
    #: Requests per second per API key (token bucket); 0 turns the limit off.
    rate_per_second: float = Field(default=20.0, ge=0)
    rate_burst: int = Field(default=40, ge=1)
    #: How far past "now" (Vietnam time) the start of a reported period may lie (clock skew).
    future_skew_seconds: float = Field(default=600.0, ge=0)
    #: Periods starting longer ago than this need ``backfill: true``.
    backfill_after_days: int = Field(default=400, ge=1)
    #: Verified keys are cached this long; a revoked key keeps working at most this long.
    key_cache_ttl_seconds: float = Field(default=5.0, ge=0)
    #: How long to wait for the broker's acknowledgement before answering 503.
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    kafka_request_timeout_ms: int = Field(default=5_000, ge=100)
    #: 0: send as soon as the producer is free. aiokafka has one produce request in flight per
    #: broker, so records of concurrent requests already share the next one; a linger only
    #: adds its own delay to every single-event request.
    kafka_linger_ms: int = Field(default=0, ge=0, le=1_000)
    #: Producers (broker connections) sharing the requests; each request's records go through
    #: one of them. More than one lets concurrent requests' acknowledgements overlap.
    kafka_producers: int = Field(default=8, ge=1, le=32)
    #: Connections for the seen-id store (one statement per call, so a few serve many requests).
    seen_pool_size: int = Field(default=10, ge=1, le=100)
    #: Days a published event id stays remembered (docs/ingest.md, "Dedup window").
    dedup_window_days: DedupWindowDays
    #: How long a seen-id statement may take before the request answers 503.
    database_timeout_seconds: float = Field(default=10.0, gt=0)
    #: The Retry-After a 503 carries.
    retry_after_seconds: int = Field(default=5, ge=1)
