"""The ingest service's Prometheus metrics, on the registry the app was given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ioc_common.observability import MetricFactory


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        new = MetricFactory(registry)
        self.events = new.counter(
            "ioc_ingest_events",
            "Submitted events by family and outcome (accepted, duplicate, rejected)",
            ["family", "outcome"],
        )
        self.rejections = new.counter(
            "ioc_ingest_rejections", "Rejected events by reason", ["reason"]
        )
        self.publish_seconds = new.histogram(
            "ioc_ingest_publish_seconds",
            "Time from handing a request's events to Kafka until every one was acknowledged",
        )
        self.publish_failures = new.counter(
            "ioc_ingest_publish_failures",
            "Requests answered 503 because the broker did not acknowledge",
        )
        self.batch_events = new.histogram(
            "ioc_ingest_request_events",
            "Events per request",
            ["endpoint"],
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
        )
        self.auth_failures = new.counter(
            "ioc_ingest_auth_failures",
            "Requests refused by authentication (401) or scope (403)",
            ["reason"],
        )
        self.rate_limited = new.counter("ioc_ingest_rate_limited", "Requests refused with 429")
        self.seen_record_failures = new.counter(
            "ioc_ingest_seen_record_failures",
            "Published events whose ids could not be recorded (a resend may publish twice)",
        )
