"""Pushes submissions through the ingest API like a department's system would: batches, an
API key, and patience — 503 and 429 are retried after their Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ioc_common.logs import get_logger

log = get_logger("ioc.simulator")


@dataclass
class PushStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class IngestPusher:
    def __init__(
        self, ingest_url: str, api_key: str, *, batch_size: int = 500, max_wait_s: float = 120
    ) -> None:
        self.client = httpx.Client(
            base_url=ingest_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        self.batch_size = batch_size
        self.max_wait_s = max_wait_s
        self.stats = PushStats()

    def close(self) -> None:
        self.client.close()

    def push(self, submissions: Iterable[dict[str, Any]]) -> PushStats:
        for chunk in _chunks(submissions, self.batch_size):
            self._push_batch(chunk)
        return self.stats

    def _push_batch(self, events: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + self.max_wait_s
        while True:
            try:
                resp = self.client.post("/v1/events:batch", json={"events": events})
            except httpx.TransportError as exc:
                resp = None
                wait = 2.0
                log.warning("simulator.ingest_unreachable", error=type(exc).__name__)
            if resp is not None and resp.status_code in (200, 202):
                break
            if resp is not None and resp.status_code not in (429, 503):
                raise RuntimeError(f"ingest refused a batch: {resp.status_code} {resp.text[:500]}")
            if resp is not None:
                wait = float(resp.headers.get("Retry-After", "2"))
            if time.monotonic() + wait > deadline:
                raise TimeoutError("ingest kept answering 429/503 or was unreachable")
            self.stats.retries += 1
            time.sleep(wait)
        body = resp.json()
        self.stats.accepted += body["accepted"]
        self.stats.duplicates += body["duplicates"]
        self.stats.rejected += body["rejected"]
        for result in body["results"]:
            if result["status"] == "rejected" and len(self.stats.first_errors) < 5:
                self.stats.first_errors.append(result)
