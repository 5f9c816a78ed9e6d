"""Fault test: the metrics service is SIGKILLed several times at random moments while 20,000
events (5% duplicates) flow, then restarted; the final aggregates still equal the reference."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from ioc_common.db import create_engine
from ioc_common.infra.process import free_port, kill_process, stop_process
from ioc_common.kafka.admin import ensure_topics
from services.metrics.tests.checks import compared_with_reference
from services.metrics.tests.running import committed, publish, wait_consumed
from services.metrics.tests.streams import make_stream, records

pytestmark = [pytest.mark.connected, pytest.mark.slow]

PROVINCE, YEAR = "92", 2038


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "ioc_metrics.app:create_app",
             "--host", "127.0.0.1", "--port", str(free_port()), "--no-access-log"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


async def test_sigkill_at_random_moments_leaves_totals_exact(
    kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    # Topics of its own, so the restarts replay only this test's events.
    suffix = uuid.uuid4().hex[:8]
    stream = make_stream(20_000, seed=2038, province=PROVINCE, year=YEAR)
    outgoing = records(stream, YEAR)
    topic_of = {r.topic: f"test.kill.{suffix}.{r.topic}" for r in outgoing}
    await ensure_topics(kafka_bootstrap, topic_of.values(), partitions=6)
    outgoing = [replace(r, topic=topic_of[r.topic]) for r in outgoing]
    group = f"metrics-kill-{suffix}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": fresh_database_url,
        "IOC_METRICS_GROUP_ID": group,
        "IOC_METRICS_TOPICS": json.dumps(sorted(topic_of.values())),
        "IOC_METRICS_BATCH_SIZE": "1000",
        "IOC_METRICS_POLL_TIMEOUT_MS": "200",
    }
    log = tmp_path / "metrics.log"
    rng = random.Random(2038)
    engine = create_engine(fresh_database_url)

    # Events keep flowing during the kills: a run's share is published as it starts, so each
    # kill falls while that share is processed, and always before the last share is out (when
    # the producer ran on its own clock, a fast service had sometimes taken everything before
    # the last kill, which then tested nothing).
    shares = [outgoing[i : i + 4000] for i in range(0, len(outgoing), 4000)]
    assert len(shares) > 4, "one share per killed run, and one for the run after them"
    ends: dict[tuple[str, int], int] = {}

    async def publish_share() -> None:
        for part, end in (await publish(kafka_bootstrap, shares.pop(0))).items():
            ends[part] = max(ends.get(part, 0), end)

    progress_at_kills: list[int] = []
    proc: subprocess.Popen[bytes] | None = None
    try:
        before = 0
        for _ in range(4):
            proc = start_service(env, log)
            await publish_share()
            # Once this run has committed something, strike at a random moment after that.
            for _ in range(600):
                if sum((await committed(engine, group)).values()) > before:
                    break
                assert proc.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            assert proc.poll() is None, log.read_text()[-3000:]
            kill_process(proc)
            before = sum((await committed(engine, group)).values())
            progress_at_kills.append(before)
        proc = start_service(env, log)
        while shares:
            await publish_share()
        await wait_consumed(engine, group, ends, timeout_s=200)
        stop_process(proc)
        _, differences = await compared_with_reference(engine, stream, PROVINCE, YEAR)
    finally:
        kill_process(proc)
        await engine.dispose()
    print(f"records committed at each kill: {progress_at_kills} of {len(outgoing)}")
    # The kills really fell while the events were being processed.
    assert all(0 < done < len(outgoing) for done in progress_at_kills), log.read_text()[-3000:]
    assert differences == []
