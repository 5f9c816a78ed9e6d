"""Unit scope: a district operator sees and acts on their district only; a province operator
on the province and everything in it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from ioc_common.reference.units import REFORM_DATE, Level, UnknownUnitError, unit_tree
from ioc_common.timeutil import vietnam_today

_LAST_LEGACY_DAY = REFORM_DATE - timedelta(days=1)


def scope_exists(code: str) -> bool:
    """A scope is a province or a (former) district code known today or before the reform."""
    tree = unit_tree()
    for on in (vietnam_today(), _LAST_LEGACY_DAY):
        unit = tree.get(code, on)
        if unit is not None and unit.level in (Level.PROVINCE, Level.DISTRICT):
            return True
    return False


def within(scope: str, code: str, on: Iterable[date] = ()) -> bool:
    """Whether ``code`` is ``scope`` or lies under it — today, or on one of the ``on`` dates
    (a legacy commune code of an old period is found in the tree of its own time)."""
    if scope == code:
        return True
    tree = unit_tree()
    for day in (vietnam_today(), *on, _LAST_LEGACY_DAY):
        try:
            if tree.contains(scope, code, day):
                return True
        except UnknownUnitError:
            continue
    return False


def unit_name(code: str) -> str:
    tree = unit_tree()
    for on in (vietnam_today(), _LAST_LEGACY_DAY):
        unit = tree.get(code, on)
        if unit is not None:
            return unit.name
    return code


def province_of(scope: str) -> str:
    """The province a scope lies in (today's code: Hà Giang's districts are now in 08)."""
    if len(scope) == 2:
        return scope
    tree = unit_tree()
    try:
        found = tree.roll_up(scope, vietnam_today()).get(Level.PROVINCE)
    except UnknownUnitError:
        found = None
    return found or scope[:2]


def district_of(code: str) -> str | None:
    """The (former) district a unit lies in; ``None`` for a province."""
    if len(code) == 3:
        return code
    if len(code) != 5:
        return None
    tree = unit_tree()
    for on in (vietnam_today(), _LAST_LEGACY_DAY):
        try:
            found = tree.roll_up(code, on).get(Level.DISTRICT)
        except UnknownUnitError:
            continue
        if found is not None:
            return found
    return None
