"""Notification channels. Each ``send`` returns a :class:`SendResult` and never raises for a
delivery problem: the dispatcher decides on retries from the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # may succeed later: back off and try again
    DEAD = "dead"  # will not succeed as it stands: an operator must look


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    error: str | None = None
    retry_after_s: float | None = None


class Channel(Protocol):
    async def send(
        self, idempotency_key: str, address: dict[str, Any], payload: dict[str, Any]
    ) -> SendResult: ...
