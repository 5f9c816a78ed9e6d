"""Consumer lag, measured on a timer and whether or not batches succeed.

Every ``interval_s`` the monitor asks the broker for the end offset of every partition of the
consumer's topics and subtracts the group's position there: the next offset the group will
process, as last *committed* — at the broker's group (``KafkaConsumer.committed``) or, for a
service that commits offsets with its data (metrics), in its own database. A consumer stuck
retrying a batch commits nothing, so its lag grows with the broker's end offsets; that is what
the platform rule ``IocConsumerLagGrowing`` watches (a lag updated only after a successful
batch froze while PostgreSQL was away).

When the position source fails (the database is away) the last positions read stand in:
nothing is committed without that source, so they are still the group's position. A partition
the group never committed counts from its first offset at the broker. Every replica reports
every partition of the group, so dashboards and rules take ``max by (topic, partition)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

from prometheus_client import Gauge

from ioc_common.logs import get_logger

log = get_logger("ioc.kafka.lag")

Partition = tuple[str, int]
#: Given partitions, the next offset the group will process for those it committed.
PositionSource = Callable[[set[Partition]], Awaitable[dict[Partition, int]]]

#: Seconds between two measurements (a quarter of the rule's ``deriv`` step is plenty).
DEFAULT_INTERVAL_S = 15.0


class OffsetSource(Protocol):
    async def log_offsets(self) -> dict[Partition, tuple[int, int]]:
        """(first, end) offsets at the broker of every partition of the consumer's topics."""
        ...


@dataclass(eq=False)
class LagMonitor:
    """``gauge``: labelled ``topic``, ``partition``; ``position``: committed next offsets."""

    consumer: OffsetSource
    gauge: Gauge
    position: PositionSource
    _: KW_ONLY
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = 10.0
    _positions: dict[Partition, int] = field(default_factory=dict, init=False)
    _failures: int = field(default=0, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def measure(self) -> dict[Partition, int]:
        """One measurement: sets the gauge and returns the lag per partition."""
        offsets = await asyncio.wait_for(self.consumer.log_offsets(), self.timeout_s)
        try:
            read = await asyncio.wait_for(self.position(set(offsets)), self.timeout_s)
            self._positions.update(read)
        except Exception as exc:  # the database away: the last positions still hold
            log.warning("kafka.lag_position_unavailable", error=type(exc).__name__)
        lag: dict[Partition, int] = {}
        for (topic, partition), (first, end) in sorted(offsets.items()):
            at = self._positions.get((topic, partition), first)
            lag[(topic, partition)] = max(0, end - max(at, first))
            self.gauge.labels(topic, str(partition)).set(lag[(topic, partition)])
        return lag

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.measure()
                self._failures = 0
            except Exception as exc:  # the broker away or not yet connected: the next round
                self._failures += 1
                if self._failures == 1:
                    log.info("kafka.lag_unmeasured", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="kafka-lag-monitor")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
