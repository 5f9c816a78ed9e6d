"""The figures of a province report, gathered once and laid out by each format.

Per indicator, one call to the metrics service's rankings gives the province's value and each
district's for the period; the alerts service's targets and the dashboard's judgement
(:func:`ioc_gateway.status.status_of`) give the target, the value the plan expected at the
period's end and the status. A district operator's report covers their own district only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ioc_common.catalogue import Indicator, Pillar
from ioc_common.catalogue.targets import judging_day
from ioc_common.contracts.metrics import RankingOut
from ioc_common.reference.units import Level, level_of, unit_name, within
from ioc_common.timeutil import VIETNAM_TZ, Granularity, period_end, period_label, utc_now
from ioc_gateway.api.views import PILLAR_NAMES, targets_or_none
from ioc_gateway.auth import Operator
from ioc_gateway.state import GatewayState
from ioc_gateway.status import Status, find_target, status_of

#: Rankings asked of the metrics service at once (28 indicators per report).
_CONCURRENT_CALLS = 4
LAGGING = frozenset({Status.WARNING.value, Status.CRITICAL.value})


@dataclass(frozen=True, slots=True)
class Row:
    """One unit's figure for one indicator, judged."""

    unit_code: str
    name: str
    level: str
    value: float | None
    status: str
    rank: int | None = None
    expected: float | None = None
    goal: float | None = None
    deadline: date | None = None
    gap: float | None = None
    target_id: str | None = None
    #: The target is one of ``ioc dev``'s demo targets, not the province's own.
    demo: bool = False

    @property
    def lagging(self) -> bool:
        return self.status in LAGGING

    @property
    def missing(self) -> bool:
        return self.value is None


@dataclass(frozen=True, slots=True)
class Line:
    """An indicator in the report: the subject's row (the province, or a district operator's
    district) and the districts' table."""

    indicator: Indicator
    subject: Row
    districts: list[Row]

    @property
    def lagging(self) -> list[Row]:
        return [r for r in self.districts if r.lagging]

    @property
    def missing(self) -> list[Row]:
        return [r for r in self.districts if r.missing]


@dataclass(frozen=True, slots=True)
class Section:
    pillar: Pillar
    name_vi: str
    name_en: str
    lines: list[Line]


@dataclass(frozen=True, slots=True)
class Report:
    province: str
    province_name: str
    #: The unit the summary is about: the province, or a district operator's district.
    subject: str
    subject_name: str
    granularity: Granularity
    period: str
    period_start: date
    judged_on: date
    generated_at: datetime  # Vietnam time
    sections: list[Section]
    #: Services that did not answer (``alerts``: no statuses, they read ``unknown``).
    unavailable: list[str] = field(default_factory=list)

    @property
    def period_end(self) -> date:
        return period_end(self.period_start, self.granularity)

    @property
    def lines(self) -> list[Line]:
        return [line for section in self.sections for line in section.lines]


def _row(
    code: str, name: str, value: float | None, judged: dict[str, Any], rank: int | None = None
) -> Row:
    """``judged``: what :func:`status_of` says of ``value``."""
    target = judged["target"] or {}
    deadline = target.get("deadline")
    return Row(
        unit_code=code,
        name=name,
        level=level_of(code).value,
        value=value,
        status=judged["status"],
        rank=rank,
        expected=target.get("expected"),
        goal=target.get("goal"),
        deadline=date.fromisoformat(deadline) if deadline else None,
        gap=target.get("gap"),
        target_id=target.get("id"),
        demo=bool(target.get("demo", False)),
    )


async def build_report(
    state: GatewayState,
    user: Operator,
    province: str,
    granularity: Granularity,
    start: date,
) -> Report:
    """The report of ``province`` for the period starting on ``start``, as ``user`` may see
    it (their scope lies in ``province``: the route checked)."""
    period = period_label(start, granularity)
    limit = asyncio.Semaphore(_CONCURRENT_CALLS)

    async def ranking(ind: Indicator) -> RankingOut:
        async with limit:
            return await state.metrics_api.rankings(ind.code, province, granularity, period)

    indicators = [i for p in PILLAR_NAMES for i in state.catalogue.by_pillar(p)]
    rankings = dict(
        zip(
            (i.code for i in indicators),
            await asyncio.gather(*(ranking(i) for i in indicators)),
            strict=True,
        )
    )
    targets, unavailable = await targets_or_none(state)
    known = not unavailable
    on = judging_day(start, granularity)
    whole_province = level_of(user.scope) is Level.PROVINCE
    subject = province if whole_province else user.scope
    sections = []
    for pillar, (name_vi, name_en) in PILLAR_NAMES.items():
        lines = []
        for ind in state.catalogue.by_pillar(pillar):
            found = rankings[ind.code]
            districts = []
            for item in found.items:
                if not within(user.scope, item.unit_code):
                    continue
                target = find_target(targets, ind.code, item.unit_code, "district", on)
                judged = status_of(ind, target, item.value, period, targets_known=known)
                districts.append(_row(item.unit_code, item.name, item.value, judged, item.rank))
            if whole_province:
                target = find_target(targets, ind.code, province, "province", on)
                judged = status_of(ind, target, found.province_value, period, targets_known=known)
                head = _row(province, unit_name(province), found.province_value, judged)
            else:
                own = next((r for r in districts if r.unit_code == subject), None)
                nothing = status_of(ind, None, None, period, targets_known=known)
                head = own or _row(subject, unit_name(subject), None, nothing)
            lines.append(Line(ind, head, districts))
        sections.append(Section(pillar, name_vi, name_en, lines))
    return Report(
        province=province,
        province_name=unit_name(province),
        subject=subject,
        subject_name=unit_name(subject),
        granularity=granularity,
        period=period,
        period_start=start,
        judged_on=on,
        generated_at=utc_now().astimezone(VIETNAM_TZ),
        sections=sections,
        unavailable=unavailable,
    )
