"""What the app holds while it runs: built in the lifespan and kept as the one attribute the
app has on ``app.state`` (``app.state.alerts``); routes reach it through
``api.deps.get_state`` (the ``State`` dependency)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_alerts.config import AlertsSettings
from ioc_alerts.dispatcher import Dispatcher
from ioc_alerts.evaluator import Clock, Evaluator
from ioc_alerts.observability import AlertsMetrics
from ioc_alerts.ssrf import IPNetwork
from ioc_common.kafka.publisher import Publisher

if TYPE_CHECKING:
    from ioc_alerts.workers import Workers


@dataclass
class AlertsState:
    settings: AlertsSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: AlertsMetrics
    evaluator: Evaluator
    clock: Clock
    allowed_networks: list[IPNetwork]
    dispatcher: Dispatcher
    #: The Kafka clients and loops, when the app runs its workers (``run_workers``).
    publisher: Publisher | None = None
    workers: Workers | None = None
