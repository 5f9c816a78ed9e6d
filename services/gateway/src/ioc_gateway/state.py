"""What the routes share: built by the app's lifespan and kept as the one attribute the app
has on ``app.state`` (``app.state.gateway``); routes reach it through ``api.deps.get_state``
(the ``State`` dependency)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_common.catalogue import Catalogue
from ioc_common.kafka.consumer import Consumer
from ioc_gateway.auth import TokenSigner, UserStore
from ioc_gateway.config import GatewaySettings
from ioc_gateway.hub import Hub
from ioc_gateway.login_throttle import LoginThrottle
from ioc_gateway.observability import GatewayMetrics
from ioc_gateway.status import Targets
from ioc_gateway.upstream import AlertsApi, MetricsApi


@dataclass
class GatewayState:
    settings: GatewaySettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    users: UserStore
    signer: TokenSigner
    hub: Hub
    metrics: GatewayMetrics
    catalogue: Catalogue
    metrics_api: MetricsApi
    alerts_api: AlertsApi
    targets: Targets
    login_throttle: LoginThrottle
    #: Set once the live feed's partitions are assigned and positioned at their end.
    positioned: asyncio.Event = field(default_factory=asyncio.Event)
    #: The live feed's consumer, once started (``feed_enabled``).
    consumer: Consumer | None = None
