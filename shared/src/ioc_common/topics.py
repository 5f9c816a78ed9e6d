"""Kafka topic names. Versioned: a breaking change to a contract gets a new ``.vN`` topic."""

from __future__ import annotations

from typing import Final

from ioc_common.events import Family

TELEMETRY_PREFIX: Final = "ioc.telemetry."
METRICS_UPDATED: Final = "ioc.metrics.updated.v2"
ALERTS: Final = "ioc.alerts.v1"
DLQ: Final = "ioc.dlq.v1"


def telemetry_topic(family: Family) -> str:
    return f"{TELEMETRY_PREFIX}{family.value}.v1"


TELEMETRY_TOPICS: Final = tuple(telemetry_topic(f) for f in Family)
ALL_TOPICS: Final = (*TELEMETRY_TOPICS, METRICS_UPDATED, ALERTS, DLQ)
