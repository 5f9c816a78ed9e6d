"""Who hears of an alert: silences and recipients' subscriptions (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ioc_alerts.evaluation import SEVERITY_RANK
from ioc_common.events import AlertSeverity
from ioc_common.reference.units import within


def silence_matches(silence: Mapping[Any, Any], alert: Mapping[Any, Any], now: datetime) -> bool:
    """Active at ``now`` and every matcher it sets agrees (a unit matcher covers the units
    within it: silencing a district silences its communes)."""
    if not silence["starts_at"] <= now < silence["ends_at"]:
        return False
    if silence["indicator"] is not None and silence["indicator"] != alert["indicator"]:
        return False
    if silence["pillar"] is not None and silence["pillar"] != alert["pillar"]:
        return False
    if silence["severity"] is not None and silence["severity"] != alert["severity"]:
        return False
    unit = silence["unit_code"]
    return unit is None or within(unit, alert["unit_code"], alert_date(alert, now))


def silenced(
    silences: Sequence[Mapping[Any, Any]], alert: Mapping[Any, Any], now: datetime
) -> bool:
    return any(silence_matches(s, alert, now) for s in silences)


def alert_date(alert: Mapping[Any, Any], now: datetime) -> date:
    """The date an alert's unit code is read on: its period's start, else today."""
    detail = alert.get("detail") or {}
    as_of = detail.get("as_of")
    if isinstance(as_of, str):
        return date.fromisoformat(as_of)
    return now.date()


def recipient_matches(
    recipient: Mapping[Any, Any], alert: Mapping[Any, Any], now: datetime
) -> bool:
    """Enabled, the alert is at least its minimum severity, in one of its pillars (none: all)
    and in or under one of its units (none: all)."""
    if not recipient["enabled"]:
        return False
    minimum = AlertSeverity(recipient["min_severity"])
    if SEVERITY_RANK[AlertSeverity(alert["severity"])] < SEVERITY_RANK[minimum]:
        return False
    if recipient["pillars"] and alert["pillar"] not in recipient["pillars"]:
        return False
    units: Sequence[str] = recipient["units"]
    on = alert_date(alert, now)
    return not units or any(within(u, alert["unit_code"], on) for u in units)
