"""What the request handlers share for the app's lifetime: built by the lifespan and kept as
the one attribute the app has on ``app.state`` (``app.state.ingest``); handlers reach it
through ``deps.get_state`` (the ``State`` dependency) or ``deps.request_key``."""

from __future__ import annotations

from dataclasses import dataclass

from ioc_common.kafka.publisher import Publisher
from ioc_ingest.config import IngestSettings
from ioc_ingest.ingestor import Ingestor
from ioc_ingest.keys import Authenticator, KeyStore
from ioc_ingest.metrics import IngestMetrics
from ioc_ingest.ratelimit import RateLimiter
from ioc_ingest.seen import SeenStore


@dataclass
class IngestState:
    settings: IngestSettings
    publisher: Publisher
    keys: KeyStore
    seen: SeenStore
    auth: Authenticator
    limiter: RateLimiter
    metrics: IngestMetrics
    ingestor: Ingestor
