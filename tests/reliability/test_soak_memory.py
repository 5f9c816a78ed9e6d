"""Soak: a steady load through ingest → Kafka → metrics → alerts → gateway, with live-feed
clients on the gateway (half WebSocket, half SSE, each reconnecting now and then) and REST calls
through it, while each service's resident memory, open file descriptors and TCP connections are
sampled with psutil every second; none of them grows.

The load starts with a burst (12,000 events, every key of the workload — communes × the last
5 days × channels — among them, sent as fast as ingest takes them), then runs steadily. A
service's RSS is the high-water mark of its working set, and metrics' working set grows with
its batches (up to ``IOC_METRICS_BATCH_SIZE``), which grow whenever it lags: without the burst
a slow machine reaches its largest batches, and metrics its plateau, only minutes in. The
burst's backlog is worked off in full batches within the first ~20 s of the warm-up (75 s in
CI, 5 min in long runs), so every cache is full and every high-water mark reached before the
window opens; what grows then is a leak. A leak is judged by the least-squares slope of RSS
over every sample after the warm-up, never by first-vs-last: above 0.05 MiB/s it fails, in
CI's short run as in long ones, so a leak of 0.1 MiB/s goes red (``IOC_SOAK_LEAK`` shows it);
the slope must also hold in each half of the window (half the limit), which tells a steady
leak from one step of the allocator. Descriptors and connections: the second half's peak
within a few of the first half's.

CI: ``IOC_SOAK_SECONDS`` unset → 150 s, 50 live clients. By hand (docs/reliability.md):
``IOC_SOAK_SECONDS=1800`` (50 live clients) writes the curve to
``tests/reliability/results/soak.json`` (any run: to ``IOC_SOAK_OUT`` when set).
``IOC_SOAK_LEAK=ingest:0.1`` makes one service leak 0.1 MiB/s (a ``sitecustomize`` put on that
process's path only, never in the services' code) to see the check go red.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import vietnam_today
from tests.reliability.chaos import RESULTS_DIR, SERVICES, Platform

pytestmark = [pytest.mark.connected, pytest.mark.slow]

SECONDS = float(os.environ.get("IOC_SOAK_SECONDS", "150"))
WARM_UP_S = min(SECONDS * 0.5, 300.0)
SENDERS = 3
LONG = "IOC_SOAK_SECONDS" in os.environ
#: 50 in both modes (the gateway's hub stalled under 50 until its scope checks were cached).
LIVE_CLIENTS = int(os.environ.get("IOC_SOAK_LIVE_CLIENTS", "50"))
LEAK = os.environ.get("IOC_SOAK_LEAK", "")
EVENTS_PER_SECOND = int(os.environ.get("IOC_SOAK_EVENTS_PER_SECOND", "300"))
#: Where the report with every service's curve goes (short runs keep it only when set).
OUT = os.environ.get("IOC_SOAK_OUT", "")
BATCH = 100
#: Events sent at once when the load starts, in ``BURST_BATCH``-event requests, every
#: (commune, day, channel) key among them (0: none). Metrics works the backlog off in batches
#: of up to ``IOC_METRICS_BATCH_SIZE`` (2000 here: 6 of them) in the warm-up's first ~20 s,
#: so each service meets its largest working set (the largest batch, the fullest fetch, the
#: live feed's busiest fan-out) before the window opens, not whenever a slow machine first
#: lags. Measured (docs/reliability.md): without it metrics' RSS stepped +3.6 and +2.8 MiB
#: when a 3 s and a 7 s stall in the window gave it batches of 900 and 2000 (slope 0.114
#: MiB/s, halves 0.165 / 0.088); with it the same stalls moved nothing (0.0).
BURST = int(os.environ.get("IOC_SOAK_BURST", "12000"))
BURST_BATCH = 500
#: Half the smallest leak the soak must catch (0.1 MiB/s), in CI's short run (75 s after a
#: 75 s warm-up) as in long runs: ``leaking`` asks for a steady slope, so one last step of
#: the allocator does not count. (CI's short run once had to allow 0.5: metrics was still
#: warming at 0.29 MiB/s in both halves, its batches still growing; the burst ended that.)
LEAK_LIMIT_MIB_PER_S = 0.05
ALL = (*SERVICES, "gateway")
PROVINCE = "08"

LEAKING_SITECUSTOMIZE = """
import os, threading, time
_rate = float(os.environ["IOC_SOAK_LEAK_MIB_PER_S"])
_hoard = []
def _leak():
    while True:  # written bytes, so the pages are resident
        _hoard.append(b"\\x01" * int(_rate * 2**20 / 10))
        time.sleep(0.1)
threading.Thread(target=_leak, daemon=True).start()
"""


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(t, y)`` points (units of y per unit of t)."""
    ts = [t for t, _ in points]
    ys = [y for _, y in points]
    t_mean, y_mean = statistics.fmean(ts), statistics.fmean(ys)
    spread = sum((t - t_mean) ** 2 for t in ts)
    return sum((t - t_mean) * (y - y_mean) for t, y in points) / spread


def rss_trend(curve: list[dict[str, float]], warm_up_s: float) -> tuple[float, float, float]:
    """RSS slopes in MiB/s after the warm-up: the whole window's, its first and second half's."""
    points = [(p["t"], p["rss_mib"]) for p in curve if p["t"] >= warm_up_s]
    half = len(points) // 2
    return slope(points), slope(points[:half]), slope(points[half:])


def leaking(trend: tuple[float, float, float], limit: float = LEAK_LIMIT_MIB_PER_S) -> bool:
    """A leak is steady: the whole window's slope above ``limit`` AND each half's above half
    of it. One step of the allocator (an arena kept, a cache filling at the end of the
    warm-up) lifts the whole window's slope but lies in one half only; a leak of 0.1 MiB/s
    lifts both (each half's slope is within ~0.015 MiB/s of the truth under 1 MiB of noise)."""
    whole, first, second = trend
    return whole > limit and min(first, second) > limit / 2


def test_the_slope_catches_a_slow_leak_under_noise_and_steps() -> None:
    rng = random.Random(18)

    def curve(leak: float, step: float) -> list[dict[str, float]]:
        # 1 MiB of noise and one step (an arena the allocator keeps) 80 s in.
        return [
            {"t": float(t), "rss_mib": 100 + leak * t + rng.gauss(0, 1) + (step if t > 80 else 0)}
            for t in range(120)
        ]

    limit = 0.05  # the long run's limit, the one that must catch 0.1 MiB/s
    assert leaking(rss_trend(curve(0.1, 0), 45), limit)
    assert leaking(rss_trend(curve(0.1, -2), 45), limit)
    assert leaking(rss_trend(curve(0.3, -2), 45), limit)
    assert not leaking(rss_trend(curve(0.0, 0), 45), limit)
    assert not leaking(rss_trend(curve(0.0, 1), 45), limit)
    # A 3 MiB step in the second half lifts the whole window's slope, not the first half's.
    assert rss_trend(curve(0.0, 3), 45)[0] > limit
    assert not leaking(rss_trend(curve(0.0, 3), 45), limit)
    # First-vs-last would call a warm-up a leak; the slope after the warm-up does not.
    warm = [{"t": float(t), "rss_mib": 90 + min(t, 40) + rng.gauss(0, 0.5)} for t in range(120)]
    assert not leaking(rss_trend(warm, 45), limit)


def sample(proc: psutil.Process) -> dict[str, float]:
    with proc.oneshot():
        return {
            "rss_mib": proc.memory_info().rss / 2**20,
            "cpu_percent": proc.cpu_percent(),
            "fds": proc.num_fds(),
            "connections": len(proc.net_connections(kind="tcp")),
        }


class SoakPlatform(Platform):
    """The chaos run's platform plus the gateway; optionally one service made to leak."""

    def __init__(self, work: Path, leak: str) -> None:
        super().__init__(work, services=ALL)
        self.leak: tuple[str, float] | None = None
        if leak:
            service, rate = leak.split(":")
            assert service in ALL, leak
            self.leak = (service, float(rate))
            (work / "leak").mkdir()
            (work / "leak" / "sitecustomize.py").write_text(LEAKING_SITECUSTOMIZE)

    def spawn(self, name: str) -> None:
        if self.leak is None or name != self.leak[0]:
            super().spawn(name)
            return
        plain = self.env
        self.env = {
            **plain,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(self.work / "leak"), plain.get("PYTHONPATH", "")) if p
            ),
            "IOC_SOAK_LEAK_MIB_PER_S": str(self.leak[1]),
        }
        try:
            super().spawn(name)
        finally:
            self.env = plain


@dataclass
class LiveStats:
    connects: dict[str, int] = field(default_factory=lambda: {"ws": 0, "sse": 0})
    messages: dict[str, int] = field(default_factory=lambda: {"ws": 0, "sse": 0})
    ended_by_gateway: dict[str, int] = field(default_factory=lambda: {"ws": 0, "sse": 0})
    errors: list[str] = field(default_factory=list)


async def live_client(
    kind: str,
    base: str,
    query: str,
    token: str,
    stats: LiveStats,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    """One live-feed client that stays 10–40 s per connection, then reconnects (the hub sees
    clients come and go, as browsers do). The hub may close a client that cannot keep up
    (``too_slow``: it reconnects and resynchronises, docs/gateway.md); such ends are counted."""
    auth = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        try:
            async with asyncio.timeout(rng.uniform(10, 40)):
                if kind == "ws":
                    ws_url = base.replace("http://", "ws://") + "/v1/live?" + query
                    async with connect(ws_url, additional_headers=auth) as ws:
                        stats.connects[kind] += 1
                        async for _ in ws:
                            stats.messages[kind] += 1
                else:
                    timeout = httpx.Timeout(10, read=None)
                    async with (
                        httpx.AsyncClient(base_url=base, timeout=timeout) as client,
                        client.stream("GET", "/v1/live/sse?" + query, headers=auth) as r,
                    ):
                        assert r.status_code == 200, r.status_code
                        stats.connects[kind] += 1
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                stats.messages[kind] += 1
                stats.ended_by_gateway[kind] += 1
        except TimeoutError:
            continue  # our own reconnect
        except ConnectionClosed:
            stats.ended_by_gateway[kind] += 1
        except Exception as exc:
            if not stop.is_set():
                stats.errors.append(f"{kind}: {exc!r}"[:200])
                await asyncio.sleep(1)


def events(rng: random.Random, communes: list[str], n: int) -> list[dict[str, Any]]:
    """Cashless flows over the last 5 days (bounded aggregate cells, every id new) and one
    public-service report in 20 for a few communes, so alerts judges targets all along."""
    today = vietnam_today()
    out: list[dict[str, Any]] = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "family": "public_service",
                    "unit_code": rng.choice(communes[:5]),
                    "observed_at": today.isoformat(),
                    "payload": {
                        "service_level": "full_online",
                        "dossiers_total": 100,
                        "dossiers_online": 60,
                        "dossiers_processed_online": rng.randint(40, 90),
                        "paid_online": 30,
                    },
                }
            )
            continue
        out.append(
            {
                "event_id": str(uuid.uuid4()),
                "family": "cashless",
                "unit_code": rng.choice(communes),
                "observed_at": (today - timedelta(days=rng.randint(0, 4))).isoformat(),
                "payload": {
                    "channel": rng.choice(["qr", "card", "e_wallet"]),
                    "transactions": 1,
                    "value_vnd": rng.randint(1_000, 50_000_000),
                },
            }
        )
    return out


def every_key(communes: list[str]) -> list[dict[str, Any]]:
    """One cashless flow per (commune, day, channel) of the workload: its aggregate cells."""
    today = vietnam_today()
    return [
        {
            "event_id": str(uuid.uuid4()),
            "family": "cashless",
            "unit_code": commune,
            "observed_at": (today - timedelta(days=days)).isoformat(),
            "payload": {"channel": channel, "transactions": 1, "value_vnd": 1_000},
        }
        for commune in communes
        for days in range(5)
        for channel in ("qr", "card", "e_wallet")
    ]


async def send(method: Any, path: str, **kwargs: Any) -> httpx.Response:
    """One request, sent again (same body, same event ids) when a kept-alive connection was
    closed by the server just as it was reused — a race of any HTTP client, not a fault."""
    for attempt in range(3):
        try:
            response: httpx.Response = await method(path, **kwargs)
            return response
        except (httpx.RemoteProtocolError, httpx.ReadError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def verdicts(curve: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, points in curve.items():
        measured = [p for p in points if p["t"] >= WARM_UP_S]
        half = len(measured) // 2
        first, second = measured[:half], measured[half:]
        whole, slope_1, slope_2 = rss_trend(points, WARM_UP_S)
        summary[name] = {
            "rss_mib_start": round(points[0]["rss_mib"], 1),
            "rss_mib_after_warm_up": round(statistics.fmean(p["rss_mib"] for p in first[:10]), 1),
            "rss_mib_end": round(statistics.fmean(p["rss_mib"] for p in second[-10:]), 1),
            "rss_slope_mib_per_s": round(whole, 4),
            "rss_slope_halves_mib_per_s": [round(slope_1, 4), round(slope_2, 4)],
            "leaking": leaking((whole, slope_1, slope_2)),
            "fds_first_half_max": max(p["fds"] for p in first),
            "fds_second_half_max": max(p["fds"] for p in second),
            "connections_first_half_max": max(p["connections"] for p in first),
            "connections_second_half_max": max(p["connections"] for p in second),
            "cpu_percent_mean": round(statistics.fmean(p["cpu_percent"] for p in measured), 1),
        }
    return summary


@pytest.mark.timeout(max(420, int(SECONDS * 2)))
async def test_steady_load_and_live_clients_do_not_grow_memory_or_connections() -> None:
    work = Path(tempfile.mkdtemp(prefix="ioc-soak-"))
    platform = SoakPlatform(work, LEAK)
    curve: dict[str, list[dict[str, float]]] = {name: [] for name in ALL}
    live = LiveStats()
    rest: dict[str, int] = {}
    late_messages: dict[str, int] = {}
    failure: Exception | None = None
    sent = 0
    stop = asyncio.Event()
    rng = random.Random()
    communes = sorted(u.code for u in unit_tree().children(PROVINCE, vietnam_today()))
    try:
        _, key, token = await platform.start_with_admin("soak")
        procs = {name: psutil.Process(p.pid) for name, p in platform.procs.items() if p}
        # Most operators watch one commune; one client in ten the whole province.
        queries = [
            "" if i % 10 == 0 else f"unit={communes[i % len(communes)]}"
            for i in range(LIVE_CLIENTS)
        ]
        clients = [
            asyncio.create_task(
                live_client(
                    "ws" if i % 2 else "sse",
                    platform.url("gateway"),
                    queries[i],
                    token,
                    live,
                    stop,
                    rng,
                )
            )
            for i in range(LIVE_CLIENTS)
        ]
        started = time.monotonic()

        async def sampler() -> None:
            while not stop.is_set():
                t = round(time.monotonic() - started, 1)
                for name, proc in procs.items():
                    # psutil reads /proc (connections: every socket of the machine): in a
                    # thread, so the loop keeps sending and reading meanwhile.
                    curve[name].append({"t": t, **await asyncio.to_thread(sample, proc)})
                if t >= (WARM_UP_S + SECONDS) / 2 and not late_messages:
                    late_messages.update(live.messages)
                await asyncio.sleep(max(0.0, started + len(curve["ingest"]) - time.monotonic()))

        async def prober() -> None:
            """What the dashboard asks the gateway (and so metrics and alerts) over REST."""
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as gw:
                while not stop.is_set():
                    for path in ("/v1/overview", "/v1/alerts", "/v1/freshness"):
                        try:
                            code = str((await send(gw.get, path, headers=auth)).status_code)
                        except httpx.TimeoutException:
                            code = "timeout"
                        rest[code] = rest.get(code, 0) + 1
                    await asyncio.sleep(2)

        probing = asyncio.create_task(prober())
        sampling = asyncio.create_task(sampler())

        burst = every_key(communes) if BURST else []
        burst += events(rng, communes, max(0, BURST - len(burst)))
        rng.shuffle(burst)

        async def sender(offset: int) -> int:
            """One of ``SENDERS`` producers: its share of the burst as fast as ingest takes it,
            then its share of the steady rate; returns events sent."""
            done = 0
            period = BATCH * SENDERS / EVENTS_PER_SECOND
            async with httpx.AsyncClient(
                base_url=platform.url("ingest"),
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                mine = burst[offset::SENDERS]
                for i in range(0, len(mine), BURST_BATCH):
                    batch = mine[i : i + BURST_BATCH]
                    r = await send(client.post, "/v1/events:batch", json={"events": batch})
                    assert r.status_code == 202, r.text
                    done += len(batch)
                steady = time.monotonic()
                n = 0
                while time.monotonic() - started < SECONDS:
                    batch = events(rng, communes, BATCH)
                    r = await send(client.post, "/v1/events:batch", json={"events": batch})
                    assert r.status_code == 202, r.text
                    done += BATCH
                    n += 1
                    # A steady rate: the next batch is due n periods after the burst.
                    due = steady + (n + offset / SENDERS) * period
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
            return done

        sent = sum(await asyncio.gather(*(sender(i) for i in range(SENDERS))))
        stop.set()
        await sampling
        await probing
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    except Exception as exc:  # the curve so far is still written (and the logs kept)
        failure = exc
    finally:
        stop.set()
        await asyncio.to_thread(platform.stop_all)
    if failure is not None:
        (work / "soak-failed.json").write_text(json.dumps({"events": sent, "curve": curve}))
        raise failure
    summary = verdicts(curve)
    report: dict[str, Any] = {
        "seconds": SECONDS,
        "warm_up_seconds": WARM_UP_S,
        "events_per_second_target": EVENTS_PER_SECOND,
        "events": sent,
        "leak_injected": LEAK or None,
        "burst_events": BURST,
        "live_clients": LIVE_CLIENTS,
        "live": {"connects": live.connects, "messages": live.messages},
        "live_ended_by_gateway": live.ended_by_gateway,
        "live_errors": live.errors,
        "rest_statuses": rest,
        "services": {name: {**summary[name], "curve": curve[name]} for name in ALL},
    }
    out = Path(OUT) if OUT else RESULTS_DIR / "soak.json" if LONG else work / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    problems: list[str] = []
    for name, s in summary.items():
        print(
            f"{name}: RSS {s['rss_mib_start']} → {s['rss_mib_after_warm_up']} → "
            f"{s['rss_mib_end']} MiB, slope {s['rss_slope_mib_per_s']} MiB/s "
            f"(halves {s['rss_slope_halves_mib_per_s']}); "
            f"fds {s['fds_first_half_max']} → {s['fds_second_half_max']}; "
            f"tcp {s['connections_first_half_max']} → {s['connections_second_half_max']}; "
            f"CPU {s['cpu_percent_mean']} %"
        )
        if s["leaking"]:
            problems.append(f"{name}: RSS grows {s['rss_slope_mib_per_s']} MiB/s")
        # The gateway's connections are the live clients, some of them reconnecting.
        slack = 8 + (LIVE_CLIENTS // 5 if name == "gateway" else 0)
        if s["fds_second_half_max"] > s["fds_first_half_max"] + slack:
            problems.append(f"{name}: descriptors grew")
        if s["connections_second_half_max"] > s["connections_first_half_max"] + slack:
            problems.append(f"{name}: connections grew")
    print(
        f"live feed: {live.connects} connects, {live.messages} messages, "
        f"{live.ended_by_gateway} ended by the gateway; REST {rest}"
    )
    # Every check is reported at once: a leak shows even in a run that also fell short.
    if sent < SECONDS * EVENTS_PER_SECOND * 0.5:
        problems.append(f"only {sent} events sent of {SECONDS * EVENTS_PER_SECOND:.0f}")
    if any(len(points) < 30 for points in curve.values()):
        problems.append("fewer than 30 samples")
    # The feed still delivered over both transports in the second half of the measured window.
    if not late_messages or any(live.messages[k] <= late_messages[k] for k in ("ws", "sse")):
        problems.append(f"the live feed stopped: {live.messages} (at half: {late_messages})")
    problems += live.errors
    # 503: an upstream answered too late on this busy machine (said so, never a wrong answer).
    if not set(rest) <= {"200", "503", "timeout"} or rest.get("200", 0) == 0:
        problems.append(f"REST through the gateway: {rest}")
    assert problems == [], problems
    with contextlib.suppress(OSError):
        shutil.rmtree(work)  # kept (with the services' logs) on a failure
