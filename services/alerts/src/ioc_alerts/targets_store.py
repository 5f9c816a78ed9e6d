"""The targets the alerts service judges against, as stored in ``alerts_targets``: seeding the
shipped ones, loading the enabled ones, and a cache of them that notices any admin change."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_alerts import tables as t
from ioc_alerts.targets import TargetSpec
from ioc_common.catalogue.targets import applies, load_targets
from ioc_common.db import transaction


@dataclass(frozen=True, slots=True)
class StoredTarget:
    spec: TargetSpec
    created_at: datetime


async def seed_targets(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Insert the shipped targets that are not there yet (an edited or deleted one stays as
    the admin left it: deletion only disables)."""
    rows = [
        {
            "id": spec.id,
            "indicator": spec.indicator,
            "definition": spec.model_dump(mode="json"),
            "origin": "seed",
            "enabled": True,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for spec in (TargetSpec.from_seed(target) for target in load_targets())
    ]
    async with transaction(sessions) as session:
        result = await session.execute(
            pg_insert(t.targets).values(rows).on_conflict_do_nothing(index_elements=["id"])
        )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def load_enabled_targets(
    session: AsyncSession, indicators: Iterable[str] | None = None
) -> list[StoredTarget]:
    query = sa.select(t.targets.c.definition, t.targets.c.created_at).where(t.targets.c.enabled)
    if indicators is not None:
        query = query.where(t.targets.c.indicator.in_(list(indicators)))
    rows = (await session.execute(query)).all()
    return [StoredTarget(TargetSpec.model_validate(r.definition), r.created_at) for r in rows]


class TargetSet:
    """The enabled targets by indicator, remembering which apply to which unit."""

    def __init__(self, stored: Sequence[StoredTarget]) -> None:
        self.stored = list(stored)
        self.by_indicator: dict[str, list[StoredTarget]] = defaultdict(list)
        for target in self.stored:
            self.by_indicator[target.spec.indicator].append(target)
        self.indicators = frozenset(self.by_indicator)
        self._applicable: dict[tuple[str, str, str, date], tuple[StoredTarget, ...]] = {}

    def applicable(
        self, indicator: str, unit_code: str, level: str, on: date
    ) -> tuple[StoredTarget, ...]:
        key = (indicator, unit_code, level, on)
        found = self._applicable.get(key)
        if found is None:
            found = tuple(
                s
                for s in self.by_indicator.get(indicator, ())
                if applies(s.spec, unit_code, level, on)
            )
            if len(self._applicable) >= 500_000:  # bounded: units × indicators × dates
                self._applicable.clear()
            self._applicable[key] = found
        return found


class TargetCache:
    """The enabled targets, parsed once and reused while none changed.

    Whether one changed costs one small aggregate per use: rows are never deleted and every
    admin change (create, replace, disable) bumps a version and ``updated_at``, so an edit
    made through any replica's API is seen at this replica's next batch."""

    def __init__(self) -> None:
        self._signature: tuple[Any, ...] | None = None
        self._set = TargetSet([])

    async def current(self, session: AsyncSession) -> TargetSet:
        c = t.targets.c
        row = (
            await session.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(c.version), 0),
                    sa.func.max(c.updated_at),
                )
            )
        ).one()
        signature = tuple(row)
        if signature != self._signature:
            self._set = TargetSet(await load_enabled_targets(session))
            self._signature = signature
        return self._set
