"""Turning the pipeline's outcomes into the answers of the write endpoints.

The answers are the documented models (``schemas.BatchResult``, ``Accepted``, ``Duplicate``)
written as plain dictionaries with orjson: building and dumping one pydantic model per item
cost more than validating the item (≈ 14 % of a 2,000-event batch).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

from ioc_ingest.ingestor import Outcome


class JsonBytes(Response):
    """A JSON answer whose body is already encoded."""

    media_type = "application/json"


def json_response(content: Any, status_code: int) -> JsonBytes:
    return JsonBytes(orjson.dumps(content), status_code=status_code)


def _item(o: Outcome, row: int | None, keep_none: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "index": o.index,
        "row": row,
        "event_id": o.event_id,
        "status": o.status,
        "code": o.code,
        "errors": [{"field": e.field, "reason": e.reason} for e in o.errors],
    }
    if not keep_none:  # as model_dump(exclude_none=True) on the JSON endpoint
        for name in ("row", "event_id", "code"):
            if item[name] is None:
                del item[name]
    return item


def batch_response(outcomes: Sequence[Outcome], rows: Sequence[int] | None = None) -> JsonBytes:
    """202 when at least one event was accepted, else 200; per-item results either way.

    The shape of ``schemas.BatchResult``; items rejected before they had an id (and, outside
    CSV uploads, the row and code fields) are written without those fields."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    keep_none = rows is not None
    results = []
    for o in outcomes:
        counts[o.status] += 1
        results.append(_item(o, rows[o.index] if rows is not None else None, keep_none))
    body = {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": results,
    }
    return json_response(body, 202 if counts["accepted"] else 200)


def accepted_response(event_id: uuid.UUID, topic: str, partition: int, offset: int) -> JsonBytes:
    """``schemas.Accepted`` with 202."""
    body = {
        "status": "accepted",
        "event_id": event_id,
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    return json_response(body, 202)


def duplicate_response(event_id: uuid.UUID) -> JsonBytes:
    """``schemas.Duplicate`` with 200."""
    return json_response({"status": "duplicate", "event_id": event_id}, 200)
