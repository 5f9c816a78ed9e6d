"""Response bodies of the alerts service's API that the gateway reads: alerts with their
history, silences, targets and as-of assessments. (Recipients and deliveries are the
administrators' business and stay in ``ioc_alerts.api.schemas``.)"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from ioc_common.events import AlertSeverity, AlertState

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class AlertOut(BaseModel):
    id: uuid.UUID
    fingerprint: str
    rule: str
    target_id: str | None
    indicator: str
    unit_code: str
    level: str
    pillar: str
    severity: AlertSeverity
    state: AlertState
    summary_vi: str
    summary_en: str
    detail: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_note: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    version: int


class HistoryOut(BaseModel):
    version: int
    at: datetime
    change: str
    state: AlertState
    severity: AlertSeverity
    actor: str | None
    note: str | None
    detail: dict[str, Any]


class AlertDetailOut(AlertOut):
    history: list[HistoryOut]


class SilenceOut(BaseModel):
    id: uuid.UUID
    indicator: str | None
    unit_code: str | None
    pillar: str | None
    severity: str | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str
    created_at: datetime
    active: bool


class TargetOut(BaseModel):
    id: str
    origin: str
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any]


#: A unit's standing at a date: ``lagging`` is behind the trajectory by more than a tolerance
#: (``severity`` says which), ``deadline_missed`` a period ending after the deadline short of
#: the goal, ``missing`` no figure recent enough to judge.
Standing = Literal["on_track", "lagging", "deadline_missed", "missing"]


class AssessmentOut(BaseModel):
    """One unit's standing against its target(s) at the ``as_of`` date."""

    unit_code: str
    level: str
    status: Standing
    severity: AlertSeverity | None = None
    target_id: str | None = None
    period: str | None = Field(default=None, description="kỳ được đánh giá / period judged")
    period_start: date | None = None
    judged_on: date | None = Field(
        default=None, description="ngày cuối kỳ, ngày đánh giá / the period's last day"
    )
    value: float | None = None
    expected: float | None = Field(default=None, description="expected for that period")
    gap: float | None = Field(default=None, description="shortfall from expected")


class AssessmentsOut(BaseModel):
    """``GET /v1/assessments``: every unit in question with its standing, and the counts."""

    as_of: date
    indicator: str
    items: list[AssessmentOut]
    counts: dict[str, int]


AlertsPage = Page[AlertOut]
SilencesPage = Page[SilenceOut]
TargetsPage = Page[TargetOut]
