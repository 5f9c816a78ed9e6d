"""Metrics builds broken on purpose, for the test that shows the chaos run can go red.

Test-only: this module lives in ``tests/`` and is no part of any package; production code has
no switch for it. The chaos run starts metrics with
``uvicorn --factory tests.reliability.sabotage:create_app`` and ``IOC_TEST_SABOTAGE`` set:

- ``drop-one``: once, the handler gets the batch without one of its records; the worker still
  stores offsets past the whole batch, so that event's effect is lost;
- ``apply-twice``: once, after the real handling, the same batch is handled again in the same
  transaction with every event id rewritten (a stable UUID derived from the original), so
  deduplication cannot catch it: the batch is counted twice.

The seams used are ``BatchProcessor.begin(tx, batch)`` (``drop-one``: the claim, and all that
follows from it, sees the batch without that record) and ``BatchProcessor.handle(tx, batch)``
(``apply-twice``); each sabotage picks its batch by the coordinates of its first record, so a
retried transaction is sabotaged the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from typing import Any

from fastapi import FastAPI

from ioc_common.kafka.batch_worker import Batch
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.logs import get_logger
from ioc_metrics import app as metrics_app
from ioc_metrics.processor import BatchProcessor

log = get_logger("ioc_metrics.sabotage")

ENV = "IOC_TEST_SABOTAGE"
KINDS = ("drop-one", "apply-twice")
#: Rewritten ids: the same UUID for the same original on every attempt.
_NAMESPACE = uuid.UUID("0b5e55ed-0000-4000-8000-00000000c4a0")

Coordinates = tuple[str, int, int]


def _coordinates(batch: Batch) -> Coordinates:
    r = batch.records[0]
    return (r.topic, r.partition, r.offset)


def _with_records(batch: Batch, records: list[ConsumedRecord]) -> Batch:
    """A copy of ``batch`` holding ``records``. ``rejected`` is shared, so a record set aside
    in the copy is dead-lettered as usual; what the worker decoded ahead (``prepared``) and
    what the handler's ``begin`` made of the batch (``begun``) are dropped, so the handler
    reads the copy's own records."""
    copy = dataclasses.replace(batch, records=records)
    copy.prepared = None
    copy.begun = None
    return copy


def rewritten(batch: Batch) -> Batch:
    """The batch with each record's ``event_id`` replaced by one derived from it."""
    records = []
    for r in batch.records:
        event: dict[str, Any] = json.loads(r.value)
        event["event_id"] = str(uuid.uuid5(_NAMESPACE, str(event["event_id"])))
        records.append(r._replace(value=json.dumps(event).encode()))
    return _with_records(batch, records)


def install(kind: str) -> None:
    """Wrap ``BatchProcessor.begin`` and ``handle`` with the sabotage ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"{ENV}={kind!r}: one of {', '.join(KINDS)}")
    real_begin, real_handle = BatchProcessor.begin, BatchProcessor.handle
    chosen: list[Coordinates] = []

    def is_chosen(batch: Batch) -> bool:
        """The first batch to begin is the one sabotaged (and so are its retries)."""
        if not batch.records:
            return False
        if not chosen:
            chosen.append(_coordinates(batch))
            log.warning("sabotage.chosen", kind=kind, at=list(chosen[0]))
        return _coordinates(batch) == chosen[0]

    async def begin(self: BatchProcessor, tx: Any, batch: Batch) -> None:
        if kind == "drop-one" and is_chosen(batch):
            copy = _with_records(batch, batch.records[1:])
            await real_begin(self, tx, copy)
            batch.begun = copy.begun  # what follows sees the batch without that record
            return
        await real_begin(self, tx, batch)

    async def handle(self: BatchProcessor, tx: Any, batch: Batch) -> Any:
        if kind == "apply-twice" and is_chosen(batch):
            applied = await real_handle(self, tx, batch)
            await real_handle(self, tx, rewritten(batch))  # begins itself: new ids, claimed
            return applied
        return await real_handle(self, tx, batch)

    BatchProcessor.begin = begin  # type: ignore[method-assign]
    BatchProcessor.handle = handle  # type: ignore[method-assign]


def create_app() -> FastAPI:
    """The metrics app, with the sabotage named by ``IOC_TEST_SABOTAGE`` installed."""
    install(os.environ.get(ENV, ""))
    return metrics_app.create_app()
