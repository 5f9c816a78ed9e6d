"""What the app holds while it runs: built in the lifespan and kept as the one attribute the
app has on ``app.state`` (``app.state.metrics``); routes reach it through
``api.deps.get_state`` (the ``State`` dependency)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_metrics.config import MetricsSettings
from ioc_metrics.runner import ConsumerLoop


@dataclass
class MetricsState:
    settings: MetricsSettings
    engine: AsyncEngine
    #: The consumer of the telemetry topics; None on an API-only replica.
    consumer_loop: ConsumerLoop | None
