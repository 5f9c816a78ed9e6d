"""Unit scope: a district operator sees and acts on their district only; a province operator
on the province and everything in it. Whether a unit lies in a scope, and the unit lookups the
views need, are the shared rules of :mod:`ioc_common.reference.units`."""

from __future__ import annotations

from ioc_common.reference.units import (
    LAST_LEGACY_DAY,
    Level,
    province_of,
    unit_name,
    unit_tree,
)
from ioc_common.timeutil import vietnam_today

# Re-exported for modules that still import them from here (feed, auth routes).
__all__ = ["province_of", "scope_exists", "unit_name"]


def scope_exists(code: str) -> bool:
    """A scope is a province or a (former) district code known today or before the reform."""
    tree = unit_tree()
    for on in (vietnam_today(), LAST_LEGACY_DAY):
        unit = tree.get(code, on)
        if unit is not None and unit.level in (Level.PROVINCE, Level.DISTRICT):
            return True
    return False
