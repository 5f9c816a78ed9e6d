"""Turning the pipeline's outcomes into the answers of the write endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.responses import JSONResponse

from ioc_ingest.ingestor import Outcome
from ioc_ingest.schemas import BatchResult, FieldErrorOut, ItemResult


def batch_response(outcomes: Sequence[Outcome], rows: Sequence[int] | None = None) -> JSONResponse:
    """202 when at least one event was accepted, else 200; per-item results either way."""
    results = [
        ItemResult(
            index=o.index,
            row=rows[o.index] if rows is not None else None,
            event_id=o.event_id,
            status=o.status,
            code=o.code,
            errors=[FieldErrorOut(field=e.field, reason=e.reason) for e in o.errors],
        )
        for o in outcomes
    ]
    body = BatchResult(
        accepted=sum(o.status == "accepted" for o in outcomes),
        duplicates=sum(o.status == "duplicate" for o in outcomes),
        rejected=sum(o.status == "rejected" for o in outcomes),
        results=results,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=rows is None),
        status_code=202 if body.accepted else 200,
    )
