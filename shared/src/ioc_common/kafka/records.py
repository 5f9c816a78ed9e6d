"""The records the publisher and consumer helpers exchange, free of aiokafka types."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = field(default=())
