"""Response bodies of the metrics service's query API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from ioc_common.events import AggregationLevel
from ioc_common.timeutil import Granularity


class Page(BaseModel):
    total: int = Field(description="số mục khớp bộ lọc / items matching the filters")
    limit: int
    offset: int


class IndicatorOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    pillar: str
    kind: str
    unit: str
    unit_vi: str
    direction: str
    scale: int
    reporting_interval_days: int
    description_vi: str
    description_en: str


class IndicatorPage(Page):
    items: list[IndicatorOut]


class PointOut(BaseModel):
    period: str = Field(description="2024-05-31, 2024-05, 2024-Q2 or 2024")
    period_start: date
    value: float | None = Field(description="giá trị (tỷ lệ đã nhân hệ số) / value (ratios scaled)")
    numerator: float | None = None
    denominator: float | None = None
    carried: bool = Field(
        description="giá trị kỳ trước chuyển sang (chỉ tiêu tồn) / carried from an earlier period"
    )


class SeriesOut(Page):
    indicator: str
    unit_code: str
    level: AggregationLevel
    granularity: Granularity
    items: list[PointOut | None] = Field(description="one per period; null: no data")
    periods: list[str]


class RankedOut(BaseModel):
    rank: int | None
    unit_code: str
    name: str
    value: float | None
    carried: bool | None


class RankingOut(Page):
    indicator: str
    province: str
    granularity: Granularity
    period: str
    direction: str
    province_value: float | None
    province_carried: bool | None
    items: list[RankedOut]


class ScoreOut(BaseModel):
    indicator: str
    name_vi: str
    name_en: str
    pillar: str
    period: str | None
    value: float | None
    carried: bool | None
    previous_period: str | None
    previous_value: float | None
    trend: Literal["up", "down", "flat", "unknown"]
    assessment: Literal["improving", "worsening", "steady", "unknown"]


class ScorecardOut(BaseModel):
    unit_code: str
    level: AggregationLevel
    granularity: Granularity
    items: list[ScoreOut]


class FreshnessOut(BaseModel):
    indicator: str
    unit_code: str
    level: str
    last_observed_at: date
    last_received_at: datetime
    age_days: float
    reporting_interval_days: int
    stale: bool


class FreshnessPage(Page):
    items: list[FreshnessOut]
