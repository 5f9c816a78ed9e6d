"""What the app holds while it runs (built in the lifespan, read by the routes)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_alerts.config import AlertsSettings
from ioc_alerts.engine import Clock, Evaluator
from ioc_alerts.observability import AlertsMetrics
from ioc_alerts.ssrf import IPNetwork


@dataclass
class AlertsState:
    settings: AlertsSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: AlertsMetrics
    evaluator: Evaluator
    clock: Clock
    allowed_networks: list[IPNetwork]
