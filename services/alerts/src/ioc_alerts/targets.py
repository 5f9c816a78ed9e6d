"""Targets as the alerts service keeps them: the shipped provinces' targets plus those an admin
adds through the API, validated the same way (the indicator exists, the deadline follows the
baseline date, tolerances are ordered)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ioc_common.catalogue import Direction, Indicator, Unit, UnknownIndicatorError, load_catalogue
from ioc_common.catalogue.targets import (
    Baseline,
    ScopeLevel,
    Target,
    TargetScope,
    TargetSource,
    Tolerance,
    Trajectory,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)]


class TargetSpec(BaseModel):
    """A target: where an indicator should be by a deadline, and when a unit is lagging."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Slug = Field(description="mã chỉ tiêu / target id, e.g. tuyen-quang-dossiers-2026")
    indicator: str = Field(description="mã chỉ số trong danh mục / catalogue indicator code")
    scope: TargetScope = Field(
        description="một cấp (có thể giới hạn trong `within`) hoặc danh sách đơn vị / "
        "a level (optionally `within` some units) or a list of units"
    )
    baseline: Baseline
    goal: float = Field(allow_inf_nan=False)
    deadline: dt.date
    trajectory: Trajectory = Trajectory.LINEAR
    tolerance: Tolerance
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    source_province: str | None = Field(default=None, max_length=200)
    source: TargetSource | None = None
    assumed: tuple[str, ...] = ()
    note_vi: str | None = Field(default=None, max_length=1000)

    @field_validator("indicator")
    @classmethod
    def _indicator_exists(cls, code: str) -> str:
        try:
            load_catalogue().require(code)
        except UnknownIndicatorError as err:
            raise ValueError(str(err)) from None
        return code

    @field_validator("deadline")
    @classmethod
    def _deadline_after_baseline(cls, deadline: dt.date, info: Any) -> dt.date:
        baseline = info.data.get("baseline")
        if isinstance(baseline, Baseline) and deadline <= baseline.date:
            raise ValueError(
                f"deadline {deadline.isoformat()} must be after the baseline date "
                f"{baseline.date.isoformat()} / hạn phải sau ngày mốc"
            )
        return deadline

    @model_validator(mode="after")
    def _fits_indicator(self) -> Self:
        indicator = load_catalogue().get(self.indicator)
        if indicator is None:
            return self
        if indicator.unit is Unit.PERCENT:
            for name, value in (("baseline.value", self.baseline.value), ("goal", self.goal)):
                if not 0 <= value <= 100:
                    raise ValueError(f"{name}: {value:g} is not a percentage (0–100)")
        higher = indicator.direction is Direction.HIGHER_IS_BETTER
        if (self.goal < self.baseline.value) if higher else (self.goal > self.baseline.value):
            raise ValueError(
                f"goal: {self.goal:g} is worse than the baseline {self.baseline.value:g} "
                f"for {self.indicator!r} ({indicator.direction})"
            )
        return self

    @property
    def indicator_def(self) -> Indicator:
        return load_catalogue().require(self.indicator)

    def _as_target(self) -> Target:
        # Target carries the trajectory arithmetic; the fields it needs are all validated here.
        fields: dict[str, Any] = {
            "baseline": self.baseline,
            "goal": self.goal,
            "deadline": self.deadline,
            "trajectory": self.trajectory,
        }
        return Target.model_construct(**fields)

    def expected_at(self, when: dt.date) -> float:
        return self._as_target().expected_at(when)

    @classmethod
    def from_seed(cls, target: Target) -> TargetSpec:
        return cls.model_validate(target.model_dump(mode="json"))


def scope_level_of(code: str) -> ScopeLevel:
    """The level a unit code names by its length (province 2, district 3, commune 5 digits)."""
    return {2: ScopeLevel.PROVINCE, 3: ScopeLevel.DISTRICT}.get(len(code), ScopeLevel.COMMUNE)
