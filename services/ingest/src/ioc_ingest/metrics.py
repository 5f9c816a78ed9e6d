"""The ingest service's Prometheus metrics, on the registry the app was given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from ioc_common.observability import LATENCY_BUCKETS


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "ioc_ingest_events",
            "Submitted events by family and outcome (accepted, duplicate, rejected)",
            ["family", "outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "ioc_ingest_rejections",
            "Rejected events by reason",
            ["reason"],
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "ioc_ingest_publish_seconds",
            "Time from handing a request's events to Kafka until every one was acknowledged",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.publish_failures = Counter(
            "ioc_ingest_publish_failures",
            "Requests answered 503 because the broker did not acknowledge",
            registry=registry,
        )
        self.batch_events = Histogram(
            "ioc_ingest_request_events",
            "Events per request",
            ["endpoint"],
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=registry,
        )
        self.auth_failures = Counter(
            "ioc_ingest_auth_failures",
            "Requests refused by authentication (401) or scope (403)",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "ioc_ingest_rate_limited",
            "Requests refused with 429",
            registry=registry,
        )
        self.seen_record_failures = Counter(
            "ioc_ingest_seen_record_failures",
            "Published events whose ids could not be recorded (a resend may publish twice)",
            registry=registry,
        )
