"""Dependencies of the query API, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from ioc_common.catalogue import Catalogue, Indicator, load_catalogue
from ioc_common.db import pg_transaction
from ioc_common.errors import FieldError, InvalidInput, NotFound
from ioc_common.events import AggregationLevel
from ioc_common.reference.units import level_of
from ioc_common.timeutil import Granularity, check_query_period, parse_observed, period_start
from ioc_metrics.state import MetricsState


async def get_state(request: Request) -> MetricsState:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool on every request.
    state: MetricsState = request.app.state.metrics
    return state


State = Annotated[MetricsState, Depends(get_state)]


async def _connection(state: State) -> AsyncIterator[Any]:
    async with pg_transaction(state.engine) as conn:
        yield conn


async def _catalogue() -> Catalogue:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool on every request.
    return load_catalogue()


Conn = Annotated[Any, Depends(_connection)]
CatalogueDep = Annotated[Catalogue, Depends(_catalogue)]
Limit = Annotated[int, Query(ge=1, le=1000, description="số mục tối đa / page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="bỏ qua / items to skip")]
GranularityQ = Annotated[
    Granularity, Query(description="kỳ: day, month, quarter, year / period length")
]


def invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(
        "Tham số không hợp lệ", "Invalid query parameter", [FieldError(field, reason)]
    )


def require_indicator(catalogue: Catalogue, code: str, field: str = "indicator") -> Indicator:
    indicator = catalogue.get(code)
    if indicator is None:
        raise invalid(field, f"unknown indicator {code!r}; see GET /v1/indicators")
    return indicator


def unit_level(code: str, field: str = "unit") -> AggregationLevel:
    try:
        return AggregationLevel(level_of(code))
    except ValueError:
        raise invalid(
            field, "a unit code has 2 (province), 3 (district) or 5 (commune) digits"
        ) from None


def period_param(text: str, granularity: Granularity, field: str) -> date:
    """The start of the period ``text`` names, within the years a query may ask about."""
    try:
        day, _ = parse_observed(text)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None
    start = period_start(day, granularity)
    check_query_period(start, field)
    return start


def not_found(what_vi: str, what_en: str) -> NotFound:
    return NotFound(f"Không tìm thấy {what_vi}", f"{what_en} not found")
