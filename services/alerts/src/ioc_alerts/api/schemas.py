"""Request bodies of the API, and the administrators' responses (recipients, deliveries); the
responses the gateway reads are in ``ioc_common.contracts.alerts``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc_common.catalogue import Pillar
from ioc_common.events import AlertSeverity, UnitCode
from ioc_common.timeutil import QUERY_MAX_YEAR, QUERY_MIN_YEAR


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeIn(_In):
    note: str = Field(min_length=1, max_length=2000, description="ghi chú / note")


class ResolveIn(_In):
    note: str | None = Field(default=None, max_length=2000, description="ghi chú / note")


class SilenceIn(_In):
    indicator: str | None = Field(default=None, max_length=64)
    unit_code: UnitCode | None = None
    pillar: Pillar | None = None
    severity: AlertSeverity | None = None
    starts_at: datetime | None = Field(default=None, description="mặc định: bây giờ / default now")
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=2000, description="lý do / reason")

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if not any((self.indicator, self.unit_code, self.pillar, self.severity)):
            raise ValueError("give at least one matcher: indicator, unit_code, pillar, severity")
        # The timezone first: a naive time (a bare date, "9999-12-31") cannot be compared.
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a timezone (e.g. +07:00)")
            # 0001-01-01T01:00+07:00 is before year 1 in UTC: PostgreSQL's write overflowed.
            if moment is not None and not QUERY_MIN_YEAR <= moment.year <= QUERY_MAX_YEAR:
                raise ValueError(f"times must be within {QUERY_MIN_YEAR}–{QUERY_MAX_YEAR}")
        if self.starts_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EmailChannelIn(_In):
    channel: Literal["email"]
    address: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)


class WebhookChannelIn(_In):
    channel: Literal["webhook"]
    url: str = Field(max_length=2000)
    secret: str | None = Field(
        default=None,
        pattern=r"^whsec_[A-Za-z0-9+/=]{24,}$",
        description="whsec_<base64>; generated when absent / tạo tự động nếu bỏ trống",
    )


class ZaloChannelIn(_In):
    channel: Literal["zalo"]
    user_id: str | None = Field(default=None, max_length=64, description="OA follower id")
    phone: str | None = Field(default=None, pattern=r"^(84|0)\d{9,10}$", description="for ZNS")
    template_id: str | None = Field(default=None, max_length=32, description="ZNS template")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if bool(self.user_id) == bool(self.phone):
            raise ValueError("give user_id (OA message) or phone with template_id (ZNS)")
        if self.phone and not self.template_id:
            raise ValueError("a ZNS message needs template_id")
        return self


ChannelIn = Annotated[
    EmailChannelIn | WebhookChannelIn | ZaloChannelIn, Field(discriminator="channel")
]


class RecipientIn(_In):
    name: str = Field(min_length=1, max_length=200)
    units: list[UnitCode] = Field(
        default_factory=list,
        description="đơn vị theo dõi (kể cả đơn vị trực thuộc); rỗng: tất cả / "
        "units followed (and those within them); empty: all",
    )
    pillars: list[Pillar] = Field(default_factory=list, description="rỗng: tất cả / empty: all")
    min_severity: AlertSeverity = AlertSeverity.WARNING
    channels: list[ChannelIn] = Field(min_length=1, max_length=10)
    enabled: bool = True


class RecipientOut(BaseModel):
    id: uuid.UUID
    name: str
    units: list[str]
    pillars: list[str]
    min_severity: AlertSeverity
    channels: list[dict[str, Any]]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    outcome: str
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: uuid.UUID
    idempotency_key: str
    recipient_id: uuid.UUID
    channel: str
    address: str
    alert_ids: list[uuid.UUID]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    subject_vi: str


class DeliveryDetailOut(DeliveryOut):
    attempts_log: list[AttemptOut]
