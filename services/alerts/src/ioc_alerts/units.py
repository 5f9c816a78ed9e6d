"""Unit lookups the alerts need: whether a unit lies within another across the 2025 reform,
and a unit's display name."""

from __future__ import annotations

from datetime import date, timedelta

from ioc_common.reference.units import REFORM_DATE, Level, UnknownUnitError, unit_tree

_LAST_LEGACY_DAY = REFORM_DATE - timedelta(days=1)


def unit_within(ancestor: str, code: str, on: date) -> bool:
    """Whether ``code`` is ``ancestor`` or lies under it on ``on``.

    Targets and subscriptions may name a former province (34 Thái Bình, 02 Hà Giang) that no
    longer exists after the reform; a unit then belongs to it when its (former) district did.
    """
    if ancestor == code:
        return True
    tree = unit_tree()
    try:
        if tree.contains(ancestor, code, on):
            return True
    except UnknownUnitError:
        pass
    if on < REFORM_DATE:
        return False
    try:
        district = tree.roll_up(code, on).get(Level.DISTRICT)
    except UnknownUnitError:
        return False
    if district is None:
        return False
    try:
        return tree.contains(ancestor, district, _LAST_LEGACY_DAY)
    except UnknownUnitError:
        return False


def unit_name(code: str, on: date) -> str:
    """``Lâm Bình (071)``; former districts and legacy codes are looked up before the reform."""
    tree = unit_tree()
    unit = tree.get(code, on) or tree.get(code, _LAST_LEGACY_DAY)
    return f"{unit.name} ({code})" if unit is not None else code
