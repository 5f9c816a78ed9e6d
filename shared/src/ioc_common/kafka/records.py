"""The records the publisher and consumer helpers exchange, free of aiokafka types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Where the broker stored a record it acknowledged."""

    topic: str
    partition: int
    offset: int


class ConsumedRecord(NamedTuple):
    """(A tuple: a consumer builds thousands a batch, and a frozen dataclass's constructor
    costs ten times a tuple's.)"""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()
