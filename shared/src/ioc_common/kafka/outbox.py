"""Draining a transactional outbox onto a topic.

A service writes the events it must publish into an outbox table (``id`` identity, ``key``,
``value`` bytes) in the transaction that caused them; after the commit, ``drain_outbox`` hands
them to the broker in id order.

The rule, one for every outbox: a row is DELETED in the transaction that publishes it, and that
transaction commits only after the broker acknowledged every row of the chunk. If the broker
does not acknowledge, the exception rolls the delete back and the rows stay for the next drain;
a crash between the broker's acknowledgement and the commit publishes them again (downstream
sees at-least-once and keys on the event's own version). Deleting rather than marking rows
published keeps the outbox as small as what is pending — no table that grows forever, no
clean-up job, no partial index to maintain — and the history lives elsewhere (the aggregates,
``alerts_history``). ``metrics_outbox`` always worked this way; ``alerts_event_outbox`` moved
to it without a schema change (its ``published_at`` column is no longer written).

``publish_written`` is the same rule for rows this process has just committed and still holds
in memory: it deletes them by id and publishes its own copies, instead of reading every value
back (the read-back of a batch's ≈ 3.6 MB of de-TOASTed values was most of a metrics drain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.db import pg_transaction
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import OutgoingRecord


@dataclass(frozen=True, slots=True)
class Outbox:
    """An outbox table and the topic its rows go to."""

    table: str
    topic: str
    #: Rows per publish (and per transaction).
    chunk: int = 5000


async def drain_outbox(
    engine: AsyncEngine,
    publisher: Publisher,
    outbox: Outbox,
    *,
    published: Callable[[int], object] | None = None,
) -> int:
    """Publish every pending row; return how many. ``published(n)`` is told each chunk."""
    sql = (
        f"DELETE FROM {outbox.table} WHERE id IN (SELECT id FROM {outbox.table}"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, key, value"
    )
    total = 0
    while True:
        async with pg_transaction(engine) as conn:
            rows = await conn.fetch(sql, outbox.chunk)
            if not rows:
                return total
            rows.sort(key=lambda r: r["id"])
            await publisher.publish_many(
                [OutgoingRecord(outbox.topic, bytes(r["value"]), key=r["key"]) for r in rows]
            )
        total += len(rows)
        if published is not None:
            published(len(rows))
        if len(rows) < outbox.chunk:
            return total


@dataclass(frozen=True, slots=True)
class Written:
    """Outbox rows a transaction inserted (their ids) and the records they hold, in id order."""

    ids: list[int]
    records: list[OutgoingRecord]


async def publish_written(
    engine: AsyncEngine,
    publisher: Publisher,
    outbox: Outbox,
    written: Sequence[Written],
    *,
    published: Callable[[int], object] | None = None,
) -> int:
    """Publish committed rows from memory, by the rule above: deleted in the transaction that
    publishes them, which commits only once the broker acknowledged them all. A row another
    drain (a replica's) took meanwhile is not deleted here and not published again. Raises if
    the broker did not acknowledge: the rows stay for ``drain_outbox``."""
    ids = [i for w in written for i in w.ids]
    if not ids:
        return 0
    async with pg_transaction(engine) as conn:
        rows = await conn.fetch(
            f"DELETE FROM {outbox.table} WHERE id = ANY($1::bigint[]) RETURNING id", ids
        )
        taken = {r["id"] for r in rows}
        records = [
            record
            for w in written
            for i, record in zip(w.ids, w.records, strict=True)
            if i in taken
        ]
        if records:
            await publisher.publish_many(records)
    if published is not None and records:
        published(len(records))
    return len(records)
