"""Provinces' targets for catalogue indicators, kept as data in ``data/targets.yaml``.

A target says where an indicator should be by a deadline: a baseline (value, date), a goal, a
trajectory between them and the tolerances beyond which a unit is lagging. Values and
tolerances are in the indicator's display units (percent for ratios shown ×100, so tolerances
are percentage points).

Province codes are the post-July-2025 ones (Tuyên Quang 08 now includes the former Hà Giang,
Hưng Yên 33 the former Thái Bình, Quảng Trị 44 the former Quảng Bình and Quảng Trị, Huế 46).
A target set by a former province keeps that province's name in ``source_province`` and is
scoped to its former territory, by its legacy unit code (``units``) or with ``within``.

Every target cites the seed article it comes from; what the article did not say and was chosen
is listed in ``assumed`` and explained in ``note_vi``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ioc_common.catalogue import (
    Catalogue,
    Direction,
    Unit,
    UnknownIndicatorError,
    load_catalogue,
    load_yaml,
    read_data_file,
)

__all__ = [
    "Baseline",
    "ScopeLevel",
    "Target",
    "TargetRule",
    "TargetScope",
    "TargetSet",
    "TargetSource",
    "Tolerance",
    "Trajectory",
    "load_targets",
    "parse_targets",
]


class _Frozen(BaseModel):
    # Spelled out here (not via a shared ConfigDict variable) so mypy's pydantic plugin sees it.
    model_config = ConfigDict(frozen=True, extra="forbid")


Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
#: Official unit codes: province 2 digits, district 3, commune 5 (legacy codes allowed).
UnitCode = Annotated[str, StringConstraints(pattern=r"^(\d{2}|\d{3}|\d{5})$")]
ProvinceCode = Annotated[str, StringConstraints(pattern=r"^\d{2}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)]
#: What a target may take from somewhere other than its article (tolerances always are chosen).
Assumption = Literal["baseline_date", "goal", "deadline"]


class Trajectory(StrEnum):
    LINEAR = "linear"
    YEARLY_STEPS = "yearly_steps"


class ScopeLevel(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"  # after July 2025: the former district, reached via the crosswalk
    COMMUNE = "commune"


class TargetScope(_Frozen):
    """Which units a target applies to: every unit of a ``level`` (optionally only those
    equal to or inside the ``within`` units), or an explicit list of ``units``."""

    level: ScopeLevel | None = None
    within: tuple[UnitCode, ...] | None = Field(default=None, min_length=1)
    units: tuple[UnitCode, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.level is None) == (self.units is None):
            raise ValueError("scope: give either level or units")
        if self.within is not None and self.level is None:
            raise ValueError("scope.within narrows a level; with units, list the units")
        for name in ("units", "within"):
            codes = getattr(self, name) or ()
            if len(set(codes)) != len(codes):
                raise ValueError(f"scope.{name}: a unit is listed twice")
        return self


class Baseline(_Frozen):
    value: float = Field(allow_inf_nan=False)
    date: dt.date


class Tolerance(_Frozen):
    """How far behind the expected value a unit may be, in the indicator's display units."""

    warning: float = Field(allow_inf_nan=False)
    critical: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not 0 <= self.warning < self.critical:
            raise ValueError(
                f"tolerance: need 0 <= warning < critical, got warning={self.warning:g}, "
                f"critical={self.critical:g}"
            )
        return self


class TargetSource(_Frozen):
    """The seed article a target comes from and a short quote of it."""

    article: Annotated[str, StringConstraints(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")]
    quote_vi: Text


def _catalogue(info: ValidationInfo) -> Catalogue:
    # Tests and tools may validate against another catalogue via the validation context.
    given = info.context.get("catalogue") if isinstance(info.context, dict) else None
    return given if isinstance(given, Catalogue) else load_catalogue()


def _anniversary(start: dt.date, years: int) -> dt.date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a common year
        return start.replace(year=start.year + years, day=28)


class TargetRule(_Frozen):
    """What a target says and how it is checked: where an indicator should be by a deadline,
    and when a unit is lagging. The shipped provinces' targets (:class:`Target`) and those an
    admin adds to the alerts service are both rules; only the shipped ones must cite a source."""

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
    assumed: tuple[Assumption, ...] = ()

    @field_validator("indicator")
    @classmethod
    def _indicator_in_catalogue(cls, code: str, info: ValidationInfo) -> str:
        try:
            _catalogue(info).require(code)
        except UnknownIndicatorError as err:
            raise ValueError(str(err)) from None
        return code

    @field_validator("deadline")
    @classmethod
    def _deadline_after_baseline(cls, deadline: dt.date, info: ValidationInfo) -> dt.date:
        baseline = info.data.get("baseline")
        if isinstance(baseline, Baseline) and deadline <= baseline.date:
            raise ValueError(
                f"deadline {deadline.isoformat()} must be after the baseline date "
                f"{baseline.date.isoformat()} / hạn phải sau ngày mốc"
            )
        return deadline

    @model_validator(mode="after")
    def _fits_indicator(self, info: ValidationInfo) -> Self:
        indicator = _catalogue(info).get(self.indicator)
        if indicator is None:  # already reported on the indicator field
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

    def step_dates(self) -> list[dt.date]:
        """The dates a ``yearly_steps`` trajectory steps on: each anniversary of the baseline
        date before the deadline, then the deadline itself."""
        steps: list[dt.date] = []
        years = 1
        while (day := _anniversary(self.baseline.date, years)) < self.deadline:
            steps.append(day)
            years += 1
        steps.append(self.deadline)
        return steps

    def expected_at(self, when: dt.date) -> float:
        """The value the trajectory expects on ``when``.

        Up to the baseline date it is the baseline value; from the deadline on, the goal.
        Between them:

        * ``linear`` — interpolated by days elapsed between the baseline date and the deadline;
        * ``yearly_steps`` — the gap from baseline to goal is cut into equal steps, one on each
          anniversary of the baseline date before the deadline and the last on the deadline
          itself; a step counts from its date on. A baseline on 31 Dec 2022 with a deadline on
          31 Dec 2025 thus steps by a third of the gap on 31 Dec 2023, 2024 and 2025, the way
          yearly plans are reported; a deadline less than a year away is a single step.
        """
        if isinstance(when, dt.datetime):  # a datetime is a date, but would not compare to one
            when = when.date()
        start, value = self.baseline.date, self.baseline.value
        if when <= start:
            return value
        if when >= self.deadline:
            return self.goal
        if self.trajectory is Trajectory.LINEAR:
            share = (when - start).days / (self.deadline - start).days
        else:
            steps = self.step_dates()
            share = sum(1 for day in steps if day <= when) / len(steps)
        return value + (self.goal - value) * share


class Target(TargetRule):
    """One province's target for one indicator, as shipped: it cites its seed article."""

    province_code: ProvinceCode
    source_province: Text
    source: TargetSource
    note_vi: Text


class TargetSet(_Frozen):
    """The targets file: a version and the targets, with unique ids."""

    version: Text
    targets: tuple[Target, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        dupes = sorted(i for i, n in Counter(t.id for t in self.targets).items() if n > 1)
        if dupes:
            raise ValueError(f"targets: duplicate id(s) {', '.join(dupes)}")
        return self


def parse_targets(text: str, catalogue: Catalogue | None = None) -> list[Target]:
    """Validate targets given as YAML text, against ``catalogue`` (default: the shipped one).

    Raises ``pydantic.ValidationError`` naming the target index and field at fault.
    """
    context = {"catalogue": catalogue or load_catalogue()}
    return list(TargetSet.model_validate(load_yaml(text), context=context).targets)


@functools.cache
def _shipped_targets() -> tuple[Target, ...]:
    return tuple(parse_targets(read_data_file("targets.yaml")))


def load_targets() -> list[Target]:
    """The targets shipped with the package (parsed once per process; a fresh list each call)."""
    return list(_shipped_targets())
