"""The live feed's fan-out hub.

One consumer loop publishes every message once; each connected client has its own bounded
buffer and its own sender task. ``Hub.publish`` never awaits a client, so a slow or stalled
client cannot slow the consumer or the other clients. When a client's buffer is full:

* a metric update replaces any pending update of the same aggregate (indicator, unit, level,
  period) — *coalesced* — and is delivered once the client catches up; past
  ``overflow_limit`` distinct pending aggregates the client is disconnected;
* any other message is *dropped* with a counter, and the client is later sent a ``resync``
  message telling it to reload its snapshots (alerts, tiles) from the API.

Messages carry an increasing ``seq``; a client reconnecting with ``after=<seq>`` is replayed
what it missed from a bounded buffer of recent messages (or told to resync when too old).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import orjson

from ioc_common.reference.units import within
from ioc_common.timeutil import vietnam_today
from ioc_gateway.observability import GatewayMetrics

Kind = Literal["metric", "alert", "telemetry"]
KINDS: tuple[Kind, ...] = ("metric", "alert", "telemetry")


class FeedMessage:
    """One message of the feed. Its JSON is written on first use and then shared by every
    client: on a busy topic most messages reach no client at all (an operator's feed is
    narrowed to a unit, a pillar, a kind), and the replay buffer keeps them unread."""

    __slots__ = (
        "_body",
        "_data",
        "coalesce_key",
        "dates",
        "kind",
        "pillars",
        "seq",
        "severity",
        "unit_code",
    )

    def __init__(
        self,
        seq: int,
        kind: Kind,
        unit_code: str,
        pillars: frozenset[str],
        severity: str | None,
        dates: tuple[date, ...],
        coalesce_key: Hashable | None,
        data: Callable[[], dict[str, Any]],
    ) -> None:
        self.seq = seq
        self.kind = kind
        self.unit_code = unit_code
        self.pillars = pillars
        self.severity = severity
        self.dates = dates
        self.coalesce_key = coalesce_key
        self._data: Callable[[], dict[str, Any]] | None = data
        self._body: str | None = None

    @property
    def body(self) -> str:
        """The JSON sent: ``{"seq", "type", "data"}``."""
        if self._body is None:
            data = self._data() if self._data is not None else {}
            self._body = orjson.dumps({"seq": self.seq, "type": self.kind, "data": data}).decode()
            self._data = None  # what it was built from is no longer needed
        return self._body


@dataclass(frozen=True, slots=True)
class Filters:
    """What one client asked for, on top of its user's unit scope."""

    scope: str
    pillars: frozenset[str] = frozenset()
    unit: str | None = None
    severities: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset(KINDS)

    def accepts(self, m: FeedMessage) -> bool:
        if m.kind not in self.kinds:
            return False
        if self.pillars and not (m.pillars & self.pillars):
            return False
        # Severity is a property of alerts; it does not hide metric updates or telemetry.
        if self.severities and m.severity is not None and m.severity not in self.severities:
            return False
        if not _in_scope(self.scope, m):
            return False
        return self.unit is None or _in_scope(self.unit, m)


def _in_scope(scope: str, m: FeedMessage) -> bool:
    return _unit_in_scope(scope, m.unit_code, m.dates)


@lru_cache(maxsize=65_536)
def _unit_in_scope(scope: str, unit_code: str, dates: tuple[date, ...]) -> bool:
    """In ``scope`` on the message's own dates, or as a code of no particular date (a
    pre-reform Hà Giang unit is in today's Tuyên Quang, 08). Cached: every message is asked
    once per client (≈ 20 µs a time uncached; 50 clients at a thousand messages a second
    saturated the gateway), and the answer depends only on the unit tree — and, for the
    undated case, on today, so the cache is emptied when the day changes (``Hub.publish``)."""
    return within(scope, unit_code, dates) or within(scope, unit_code)


class ClientGone(Exception):
    """The client was disconnected by the hub (too far behind) or the hub closed."""


_RESYNC = orjson.dumps({"type": "resync"}).decode()


@dataclass(eq=False)
class Client:
    filters: Filters
    transport: str
    metrics: GatewayMetrics
    queue_size: int
    overflow_limit: int
    telemetry_per_second: float
    dropped: int = 0
    coalesced: int = 0
    closed_reason: str | None = None
    _queue: deque[FeedMessage] = field(default_factory=deque)
    _overflow: OrderedDict[Hashable, FeedMessage] = field(default_factory=OrderedDict)
    _resync: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: float = 0.0
    _refilled: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._tokens = max(1.0, self.telemetry_per_second)  # a new client starts with a burst

    def _sampled_in(self) -> bool:
        rate = self.telemetry_per_second
        if rate <= 0:
            return False
        now = time.monotonic()
        burst = max(1.0, rate)
        self._tokens = min(burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def offer(self, m: FeedMessage) -> None:
        """Queue ``m`` if the client wants it; never blocks."""
        if self.closed_reason is not None or not self.filters.accepts(m):
            return
        if m.kind == "telemetry" and not self._sampled_in():
            self.metrics.sampled.inc()
            return
        key = m.coalesce_key
        if key is not None and key in self._overflow:
            self._overflow[key] = m  # a newer value of an aggregate already waiting
            self._overflow.move_to_end(key)
            self._coalesce()
        elif len(self._queue) < self.queue_size:
            self._queue.append(m)
        elif key is not None:
            self._overflow[key] = m
            if len(self._overflow) > self.overflow_limit:
                self.close("too_slow")
                self.metrics.slow_disconnects.inc()
                return
        else:
            self.dropped += 1
            self.metrics.dropped.labels(m.kind).inc()
            self._resync = True
        self._wake.set()

    def _coalesce(self) -> None:
        self.coalesced += 1
        self.metrics.coalesced.inc()

    def request_resync(self) -> None:
        self._resync = True
        self._wake.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        self._wake.set()
        self._closed.set()

    async def wait_closed(self) -> str:
        """Returns once the hub closed the client (its sender may be stuck writing)."""
        await self._closed.wait()
        return self.closed_reason or "closed"

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._overflow)

    async def next(self) -> tuple[str, str]:
        """The next message to send as ``(type, json)``; raises ``ClientGone`` once closed."""
        while True:
            if self.closed_reason is not None:
                raise ClientGone(self.closed_reason)
            if self._queue:
                m = self._queue.popleft()
                return m.kind, m.body
            if self._overflow:
                _, m = self._overflow.popitem(last=False)
                return m.kind, m.body
            if self._resync:
                self._resync = False
                return "resync", _RESYNC
            self._wake.clear()
            await self._wake.wait()


class Hub:
    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        queue_size: int = 256,
        overflow_limit: int = 2_000,
        telemetry_per_second: float = 5.0,
        replay_size: int = 1_000,
    ) -> None:
        self.metrics = metrics
        self.queue_size = queue_size
        self.overflow_limit = overflow_limit
        self.telemetry_per_second = telemetry_per_second
        self.clients: set[Client] = set()
        self._seq = 0
        self._recent: deque[FeedMessage] = deque(maxlen=replay_size or None)
        self._replay = replay_size > 0
        self._today = vietnam_today()
        self._day_checked_at = time.monotonic()

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(
        self,
        kind: Kind,
        data: Callable[[], dict[str, Any]],
        *,
        unit_code: str,
        pillars: frozenset[str] = frozenset(),
        severity: str | None = None,
        dates: tuple[date, ...] = (),
        coalesce_key: Hashable | None = None,
    ) -> FeedMessage:
        """Offer a message to every client; ``data()`` builds its ``data`` when a client (or
        a replay) first needs it."""
        now = time.monotonic()
        if now >= self._day_checked_at + 1.0:  # once a second: "today" is a time-zone sum
            self._day_checked_at = now
            today = vietnam_today()
            if today != self._today:  # "today's tree" moved: scope answers may differ
                self._today = today
                _unit_in_scope.cache_clear()
        self._seq += 1
        m = FeedMessage(self._seq, kind, unit_code, pillars, severity, dates, coalesce_key, data)
        if self._replay:
            self._recent.append(m)
        for client in list(self.clients):
            client.offer(m)
        return m

    def connect(self, filters: Filters, transport: str, *, after: int | None = None) -> Client:
        client = Client(
            filters=filters,
            transport=transport,
            metrics=self.metrics,
            queue_size=self.queue_size,
            overflow_limit=self.overflow_limit,
            telemetry_per_second=self.telemetry_per_second,
        )
        if after is not None and after > self._seq:
            client.request_resync()  # numbered by an earlier gateway process
        elif after is not None and after < self._seq:
            oldest = self._recent[0].seq if self._recent else self._seq + 1
            if after + 1 < oldest:
                client.request_resync()  # what it missed is no longer kept
            for m in self._recent:
                if m.seq > after:
                    client.offer(m)
        self.clients.add(client)
        self.metrics.clients.labels(transport).inc()
        return client

    def disconnect(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.metrics.clients.labels(client.transport).dec()
        client.close("disconnected")

    def close(self) -> None:
        for client in list(self.clients):
            client.close("shutdown")
