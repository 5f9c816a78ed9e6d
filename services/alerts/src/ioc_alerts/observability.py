"""The service's Prometheus metrics, on the registry the app is given."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts import tables as t
from ioc_common.observability import MetricFactory


class AlertsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        new = MetricFactory(registry)
        self.alerts = new.gauge(
            "ioc_alerts_alerts",
            "Alerts by state and severity (resolved: total ever resolved)",
            ["state", "severity"],
        )
        self.deliveries = new.counter(
            "ioc_alerts_deliveries",
            "Delivery attempts by channel and outcome (sent, retry, dead)",
            ["channel", "outcome"],
        )
        self.outbox_depth = new.gauge(
            "ioc_alerts_outbox_depth", "Notification outbox rows by status", ["status"]
        )
        self.events_published = new.counter(
            "ioc_alerts_events_published", "AlertChanged events published on ioc.alerts.v1"
        )
        self.metric_updates = new.counter(
            "ioc_alerts_metric_updates",
            "Metric updates consumed, by result: ok and skipped (no target uses its indicator) "
            "count updates (a MetricUpdates record holds up to 1,000); invalid counts records "
            "dead-lettered",
            ["result"],
        )
        self.evaluations = new.counter(
            "ioc_alerts_evaluations",
            "(indicator, unit) evaluations, by trigger (event, sweep)",
            ["trigger"],
        )
        self.consumer_lag = new.gauge(
            "ioc_alerts_consumer_lag",
            "Records on the broker the consumer group has not committed, per partition "
            "(measured on a timer: ioc_common.kafka.lag)",
            ["topic", "partition"],
        )
        self.batch_failures = new.counter(
            "ioc_alerts_batch_failures",
            "Consumed batches whose transaction failed and was tried again",
        )
        # Every label a platform rule reads exists from start-up, at zero: increase() then
        # sees the first event (deploy/prometheus/platform-alerts.yml).
        for result in ("ok", "invalid", "skipped"):
            self.metric_updates.labels(result)

    async def refresh(self, session: AsyncSession) -> None:
        rows = (
            await session.execute(
                sa.select(t.alerts.c.state, t.alerts.c.severity, sa.func.count()).group_by(
                    t.alerts.c.state, t.alerts.c.severity
                )
            )
        ).all()
        self.alerts.clear()
        for state, severity, count in rows:
            self.alerts.labels(state, severity).set(count)
        result = await session.execute(
            sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status)
        )
        depth = {status: count for status, count in result.all()}
        for status in ("pending", "sent", "dead"):
            self.outbox_depth.labels(status).set(depth.get(status, 0))
