"""What the routes share, built by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ioc_common.catalogue import Catalogue
from ioc_gateway.auth import TokenSigner, UserStore
from ioc_gateway.config import GatewaySettings
from ioc_gateway.hub import Hub
from ioc_gateway.login_throttle import LoginThrottle
from ioc_gateway.observability import GatewayMetrics
from ioc_gateway.status import Targets
from ioc_gateway.upstream import Upstream


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
    metrics_api: Upstream
    alerts_api: Upstream
    targets: Targets
    login_throttle: LoginThrottle
