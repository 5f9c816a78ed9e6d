"""What the API documents: the submissions departments send and the answers they get.

The write endpoints read their bodies themselves (so one bad item in a batch does not refuse
the others); these models describe those bodies in the OpenAPI document and ``/v1/families``.
Validation itself goes through ``ioc_common.events.TELEMETRY_ADAPTER`` (see ``validation``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ioc_common.events import (
    BtsPayload,
    CashlessPayload,
    Family,
    ObservationPayload,
    PublicServicePayload,
    UnitCode,
)


class _Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID | None = Field(
        default=None,
        description="UUID của sự kiện; gửi lại cùng mã được coi là trùng / the event's UUID; a "
        "resend with the same id is a duplicate. Without it: the Idempotency-Key header "
        "(single) or idempotency_key (batch item).",
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=255,
        description="Chỉ trong lô: khóa chống trùng thay cho event_id / batch items only: an "
        "idempotency key the event id is derived from",
    )
    unit_code: UnitCode = Field(description="Mã đơn vị hành chính / official unit code")
    observed_at: str = Field(
        examples=["2024-05-31", "2024-05", "2024-Q2", "2024"],
        description="Kỳ báo cáo / the period: a day, month, quarter or year",
    )
    revision: int = Field(
        default=1, ge=1, description="Lần sửa; số lớn hơn thay số cũ / a higher one replaces"
    )
    backfill: bool = Field(
        default=False,
        description="Gửi bù số liệu cũ (kỳ bắt đầu hơn ~400 ngày trước) / sending old data on "
        "purpose",
    )


class BtsSubmission(_Submission):
    family: Literal[Family.BTS]
    payload: BtsPayload


class PublicServiceSubmission(_Submission):
    family: Literal[Family.PUBLIC_SERVICE]
    payload: PublicServicePayload


class CashlessSubmission(_Submission):
    family: Literal[Family.CASHLESS]
    payload: CashlessPayload


class ObservationSubmission(_Submission):
    family: Literal[Family.OBSERVATION]
    indicator: str = Field(description="Mã chỉ tiêu trong danh mục / catalogue indicator code")
    payload: ObservationPayload


SUBMISSION_MODELS: dict[Family, type[_Submission]] = {
    Family.BTS: BtsSubmission,
    Family.PUBLIC_SERVICE: PublicServiceSubmission,
    Family.CASHLESS: CashlessSubmission,
    Family.OBSERVATION: ObservationSubmission,
}

Submission = Annotated[
    BtsSubmission | PublicServiceSubmission | CashlessSubmission | ObservationSubmission,
    Field(discriminator="family"),
]


class BatchRequest(BaseModel):
    events: list[Submission] = Field(
        min_length=1, description="Tối đa 5.000 sự kiện / up to 5,000 events (configurable)"
    )


class FieldErrorOut(BaseModel):
    field: str
    reason: str


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: uuid.UUID
    topic: str
    partition: int
    offset: int


class Duplicate(BaseModel):
    status: Literal["duplicate"] = "duplicate"
    event_id: uuid.UUID


class ItemResult(BaseModel):
    index: int = Field(description="Vị trí trong lô, từ 0 / position in the batch, from 0")
    row: int | None = Field(
        default=None, description="Chỉ với CSV: số dòng (tiêu đề là dòng 1) / CSV row number"
    )
    # Absent (not required) for an item rejected before it had an id.
    event_id: uuid.UUID | None = Field(
        default=None, description="Mã sự kiện, nếu có / the item's event id, when it has one"
    )
    status: Literal["accepted", "duplicate", "rejected"]
    code: str | None = Field(default=None, description="invalid_input or forbidden")
    errors: list[FieldErrorOut] = []


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


class FamilyInfo(BaseModel):
    family: Family
    topic: str
    description_vi: str
    description_en: str
    submission_schema: dict[str, Any]
    csv_columns: list[dict[str, Any]]
    indicators: list[str] = Field(description="Chỉ tiêu tính từ nhóm này / indicators derived")


class IndicatorInfo(BaseModel):
    code: str
    name_vi: str
    name_en: str
    pillar: str
    kind: str
    unit: str
    source_family: str
    observation_payload: Literal["value", "numerator+denominator"]


class FamiliesOut(BaseModel):
    families: list[FamilyInfo]
    indicators: list[IndicatorInfo]
