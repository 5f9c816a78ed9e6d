"""Notification channels. Each ``send`` returns a :class:`SendResult` and never raises for a
delivery problem: the dispatcher decides on retries from the outcome."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

#: The most of an error (a receiver's answer, an exception's text) that is stored and shown.
EXCERPT_CHARS = 240
#: The most of a receiver's answer that is read at all.
EXCERPT_READ_BYTES = 1024
TRUNCATED = " …[truncated]"
_SPACES = re.compile(r"\s+")


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


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """What may be stored or shown of a text that came from outside: control and format
    characters (newlines, escapes, bidi overrides, zero-width marks) become spaces, runs of
    spaces one, and past ``limit`` characters it is cut and ends with ``TRUNCATED``. The one
    rule for every delivery error the service keeps (``alerts_outbox.last_error``,
    ``alerts_delivery_attempts.error``) and logs."""
    if text is None:
        return None
    printable = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text
    )
    clean = _SPACES.sub(" ", printable).strip()
    if len(clean) <= limit:
        return clean
    return clean[: limit - len(TRUNCATED)].rstrip() + TRUNCATED
