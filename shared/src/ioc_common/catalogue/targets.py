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

How a value is judged against a target lives here once (``applies``, ``expected_value``,
``shortfall``, ``judge``): the alerts service adds hysteresis and an alert's lifecycle to the
verdict, the gateway colours the dashboard with it, so the two cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
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
from ioc_common.events import AlertSeverity
from ioc_common.reference.units import REFORM_DATE, level_of, within
from ioc_common.timeutil import Granularity, period_end

__all__ = [
    "Baseline",
    "DemoTarget",
    "Judgement",
    "ScopeLevel",
    "Target",
    "TargetRule",
    "TargetScope",
    "TargetSet",
    "TargetSource",
    "Tolerance",
    "Trajectory",
    "Verdict",
    "applies",
    "expected_value",
    "judge",
    "judging_day",
    "load_demo_targets",
    "load_targets",
    "parse_targets",
    "shortfall",
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
    equal to or inside the ``within`` units), or an explicit list of ``units``.

    ``before_reform`` re-expresses a former province's target on the unit it now belongs to:
    ``{units: ["08"], before_reform: ["02"]}`` judges 08 Tuyên Quang from 1 July 2025 and,
    for earlier periods, the former 02 Hà Giang that set it (not the smaller, legacy 08) — it
    stands for ``units``, or for ``within``, on days before the reform."""

    level: ScopeLevel | None = None
    within: tuple[UnitCode, ...] | None = Field(default=None, min_length=1)
    units: tuple[UnitCode, ...] | None = Field(default=None, min_length=1)
    before_reform: tuple[UnitCode, ...] | None = Field(
        default=None,
        min_length=1,
        description="mã đơn vị cũ áp dụng cho kỳ trước 01/07/2025 / legacy units the target "
        "applies to for periods before 1 July 2025 (instead of `units` or `within`)",
    )

    def on(self, day: dt.date) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """``(units, within)`` as they apply to a period judged on ``day``."""
        if self.before_reform is None or day >= REFORM_DATE:
            return self.units, self.within
        if self.units is not None:
            return self.before_reform, None
        return None, self.before_reform

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.level is None) == (self.units is None):
            raise ValueError("scope: give either level or units")
        if self.within is not None and self.level is None:
            raise ValueError("scope.within narrows a level; with units, list the units")
        if self.before_reform is not None and self.units is None and self.within is None:
            raise ValueError("scope.before_reform stands for units or within: give one of them")
        for name in ("units", "within", "before_reform"):
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
    demo: bool = Field(
        default=False,
        description="chỉ tiêu minh hoạ của bản chạy thử (ioc dev), không phải chỉ tiêu thật / "
        "a demo target of `ioc dev`, not a province's real one (labelled so wherever shown)",
    )

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


class DemoTarget(TargetRule):
    """A target the demo province gets under ``ioc dev`` where the seed articles give none
    (``demo_targets.yaml``): always ``demo``, never seeded into a real deployment; it may cite
    the article whose level it borrows."""

    province_code: ProvinceCode
    source: TargetSource | None = None
    note_vi: Text

    @model_validator(mode="after")
    def _labelled(self) -> Self:
        if not self.demo:
            raise ValueError("a demo target must say demo: true")
        return self


class DemoTargetSet(_Frozen):
    version: Text
    targets: tuple[DemoTarget, ...]


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


def load_demo_targets() -> list[DemoTarget]:
    """The demo province's labelled demo targets (``ioc dev`` gives them to the alerts
    service; a real deployment never loads them)."""
    text = read_data_file("demo_targets.yaml")
    context = {"catalogue": load_catalogue()}
    return list(DemoTargetSet.model_validate(load_yaml(text), context=context).targets)


# --- judging a value against a target: the one statement of the rule


def applies(rule: TargetRule, unit_code: str, level: str, on: dt.date) -> bool:
    """Whether ``rule`` covers the unit at that aggregation level on that date (a former
    province or district in ``within`` keeps covering its territory after the reform; a
    scope's ``before_reform`` units stand for its own before it)."""
    scope = rule.scope
    units, inside = scope.on(on)
    if units is not None:
        return unit_code in units and level_of(unit_code).value == str(level)
    if scope.level is None or scope.level.value != str(level):
        return False
    return inside is None or any(within(w, unit_code, on) for w in inside)


def shortfall(direction: Direction, expected: float, actual: float) -> float:
    """How far ``actual`` is worse than ``expected`` (negative when better)."""
    return expected - actual if direction is Direction.HIGHER_IS_BETTER else actual - expected


def expected_value(rule: TargetRule, on: dt.date) -> float:
    """What a value judged on ``on`` is held to: the trajectory's value that day (the goal
    itself from the deadline on). It depends on ``on`` only, never on today's date."""
    return rule.expected_at(on)


def judging_day(period_start: dt.date, granularity: Granularity) -> dt.date:
    """The day a period's figure is judged on: the period's last day, whether the period has
    ended or still runs. A figure for May 2024 is held to what the plan expected on
    31 May 2024 — the plan *for that period* — however late it arrives or is looked at."""
    return period_end(period_start, granularity)


class Verdict(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"  # behind the trajectory by more than the warning tolerance
    CRITICAL = "critical"  # … by more than the critical one
    DEADLINE_MISSED = "deadline_missed"  # a period ending after the deadline, short of the goal
    NO_TARGET = "no_target"  # a value, but no target applies
    NO_DATA = "no_data"  # no value to judge


_SEVERITY: dict[Verdict, AlertSeverity] = {
    Verdict.WARNING: AlertSeverity.WARNING,
    Verdict.CRITICAL: AlertSeverity.CRITICAL,
    Verdict.DEADLINE_MISSED: AlertSeverity.CRITICAL,
}


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict and the figures behind it, for one period. ``on`` is the day judged on (the
    period's last day), ``expected`` what the trajectory expected then, ``gap`` the shortfall
    from it and ``tolerance`` the threshold crossed (the warning one while on track, 0 for a
    period ending after the deadline)."""

    verdict: Verdict
    expected: float | None = None
    gap: float | None = None
    tolerance: float | None = None
    past_deadline: bool = False
    period: str | None = None
    on: dt.date | None = None

    @property
    def severity(self) -> AlertSeverity | None:
        """The alert this verdict calls for, before any hysteresis (``None``: no alert)."""
        return _SEVERITY.get(self.verdict)


def judge(
    rule: TargetRule | None,
    value: float | None,
    *,
    direction: Direction,
    on: dt.date,
    period: str | None = None,
) -> Judgement:
    """Judge ``value`` — the figure of ``period``, judged on ``on``, the period's last day
    (:func:`judging_day`) — against ``rule``, in the period's own time: today's date plays no
    part, so a past period gets the verdict it had when it ended.

    Lagging: worse than the trajectory's value on ``on`` by more than the warning, then the
    critical tolerance. Deadline missed: the period ends after the deadline and the value is
    short of the goal (a period ending on or before the deadline is lagging or on track
    against the trajectory, whose value on the deadline is the goal).
    """
    if rule is None:
        verdict = Verdict.NO_TARGET if value is not None else Verdict.NO_DATA
        return Judgement(verdict, period=period, on=on)
    past = on > rule.deadline
    expected = expected_value(rule, on)
    if value is None:
        return Judgement(Verdict.NO_DATA, expected, past_deadline=past, period=period, on=on)
    gap = shortfall(direction, expected, value)
    if past:
        verdict = Verdict.DEADLINE_MISSED if gap > 0 else Verdict.ON_TRACK
        return Judgement(verdict, expected, gap, 0.0, past_deadline=True, period=period, on=on)
    warning, critical = rule.tolerance.warning, rule.tolerance.critical
    if gap > critical:
        return Judgement(Verdict.CRITICAL, expected, gap, critical, period=period, on=on)
    if gap > warning:
        return Judgement(Verdict.WARNING, expected, gap, warning, period=period, on=on)
    return Judgement(Verdict.ON_TRACK, expected, gap, warning, period=period, on=on)
