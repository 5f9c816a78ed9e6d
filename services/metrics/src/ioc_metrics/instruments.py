"""The metrics service's Prometheus instruments, on the registry the app passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from ioc_common.observability import MetricFactory

#: Every reason a record goes to the DLQ for (``processor.decode``, ``facts.Poison``); each
#: ``ioc_metrics_dead_letters_total{reason}`` series exists at zero from start-up, so the rule
#: ``IocDeadLettersGrowing`` (``increase()``) sees the very first dead letter.
DEAD_LETTER_REASONS = (
    "undecodable",
    "schema_invalid",
    "unknown_unit",
    "unknown_indicator",
    "invalid_form",
)
OUTCOMES = ("aggregated", "duplicate", "dead_lettered")


class Instruments:
    def __init__(self, registry: CollectorRegistry) -> None:
        new = MetricFactory(registry)
        # rate(ioc_metrics_events_total[1m]) is the events/s figure.
        self.events = new.counter(
            "ioc_metrics_events",
            "Telemetry records consumed, by outcome (aggregated, duplicate, dead_lettered)",
            ["outcome"],
        )
        self.dead_letters = new.counter(
            "ioc_metrics_dead_letters", "Records sent to the DLQ, by reason", ["reason"]
        )
        self.batch_size = new.histogram(
            "ioc_metrics_batch_size",
            "Records per committed batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
        )
        self.commit_seconds = new.histogram(
            "ioc_metrics_commit_seconds",
            "Time of one batch's transaction (aggregates, event ids, offsets)",
        )
        self.lag = new.gauge(
            "ioc_metrics_consumer_lag",
            "Records on the broker not yet committed, per partition",
            ["topic", "partition"],
        )
        self.aggregates_changed = new.counter(
            "ioc_metrics_aggregates_changed", "Aggregate rows whose value changed"
        )
        self.updates_published = new.counter(
            "ioc_metrics_updates_published",
            "MetricUpdates records published from the outbox (one per unit and batch, up to "
            "1,000 updates each; ioc_metrics_aggregates_changed counts the updates)",
        )
        self.superseded = new.counter(
            "ioc_metrics_superseded_facts",
            "Facts ignored because a higher revision of their figure holds (late lower"
            " revisions), by kind (flow, stock)",
            ["kind"],
        )
        self.stock_batches = new.counter(
            "ioc_metrics_stock_batches",
            "Batches with winning stock facts, by the path their cells took: delta (the facts"
            " are the latest of their series) or exact (late, back-filled or pre-reform facts,"
            " recomputed as of each period)",
            ["path"],
        )
        self.batch_failures = Counter(
            "ioc_metrics_batch_failures", "Batches that failed and were retried", registry=registry
        )
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason)
        for outcome in OUTCOMES:
            self.events.labels(outcome)
        for kind in ("flow", "stock"):
            self.superseded.labels(kind)
        for path in ("delta", "exact"):
            self.stock_batches.labels(path)
