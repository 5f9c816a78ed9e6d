"""The engine's :class:`~ioc_metrics.core.Store` on PostgreSQL: one set-based statement per
operation, all inside the caller's transaction.

The large row sets (facts, aggregate rows) travel as ONE JSON parameter read back with
``json_to_recordset``: asyncpg encodes a Python list as an array element by element, with
several ``isinstance`` checks against abstract base classes for each, which cost more CPU than
the statement itself; ``orjson`` writes the same rows in a fraction of that. Numbers keep their
exact decimal text (numeric input), dates and time stamps their ISO form."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from ioc_common.db.partitions import keep_window, month_start
from ioc_common.events import EventKey
from ioc_common.timeutil import Granularity, utc_now
from ioc_metrics.core import (
    Ahead,
    Around,
    Change,
    ChildValue,
    Delta,
    Figure,
    FlowDelta,
    Held,
    Own,
    Prior,
    Row,
    RowKey,
    era_floor,
    period_end_of,
)
from ioc_metrics.facts import Fact, Part, gran_order, parent_scope, scope_code, scope_level

#: The nodes already in ``metrics_nodes``: (indicator, granularity, parent scope, scope).
Node = tuple[str, str, str, str]


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact: numeric input reads it back digit for digit
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(rows: Iterable[Any]) -> str:
    """Rows (dicts) as one JSON array for ``json_to_recordset``."""
    return orjson.dumps(list(rows), default=_json_default).decode()


def _tuple_rows(columns: str) -> str:
    """A ``SELECT`` of ``$1``'s rows, given (``to_json``) as one JSON array of arrays, read as
    these columns (``"name type, …"``, in the arrays' order), numbered ``i`` from 1. For
    thousands of keys: asyncpg checks every item of an array parameter in Python, and JSON
    objects (``json_to_recordset``) cost a dict a row here and more to read there."""
    read = ", ".join(
        f"(j.v->>{n})::{kind} AS {name}"
        for n, (name, kind) in enumerate(c.split() for c in columns.split(", "))
    )
    return f"SELECT {read}, j.i FROM json_array_elements($1::json) WITH ORDINALITY AS j(v, i)"


def aware(moment: datetime) -> datetime:
    # asyncpg reads a naive time stamp as local time; keep that meaning in the JSON text.
    return moment if moment.tzinfo is not None else moment.astimezone(UTC)


@lru_cache(maxsize=65_536)
def scope_columns(scope: str) -> tuple[str, str, str]:
    """(parent scope, level, code) of a node's scope."""
    return parent_scope(scope), scope_level(scope).value, scope_code(scope)


_FACT_COLUMNS = (
    "indicator, unit_code, fact_key, part, scope, series, observed_at, granularity, gran_order,"
    " num, den, revision, received_at, event_id"
)
_FACT_ROWS = (
    "json_to_recordset($1::json) AS x(indicator text, unit_code text, fact_key text, part text,"
    " scope text, series text, observed_at date, granularity text, gran_order smallint,"
    " num numeric, den numeric, revision int, received_at timestamptz, event_id uuid)"
)


def _fact_row(f: Fact, num: Any, den: Any) -> dict[str, Any]:
    """A fact as one ``json_to_recordset`` row of the fact columns, with that ``num``/``den``."""
    return {
        "indicator": f.indicator,
        "unit_code": f.unit_code,
        "fact_key": f.fact_key,
        "part": f.part,
        "scope": f.scope,
        "series": f.series,
        "observed_at": f.observed_at,
        "granularity": f.granularity,
        "gran_order": gran_order(f.granularity),
        "num": num,
        "den": den,
        "revision": f.revision,
        "received_at": aware(f.received_at),
        "event_id": f.event_id,
    }


def _facts_json(facts: Sequence[Fact]) -> str:
    return to_json(_fact_row(f, f.num, f.den) for f in facts)


#: Where counted event ids are remembered, a partition per month (``ioc_common.db.partitions``).
PROCESSED_EVENTS = "metrics_processed_events"


async def keep_dedup_window(conn: Any, today: date, window_days: int) -> list[str]:
    """Make the months ``claim_events`` writes to (this one and the next) and forget the
    months wholly older than the dedup window: an id counted more than ``window_days`` ago
    may be counted again. Returns the partitions dropped."""
    return await keep_window(conn, PROCESSED_EVENTS, today, window_days)


#: The advisory-lock namespace of the metrics service's province locks (high 32 bits).
_PROVINCE_LOCKS = 0x10C0_0001


def province_lock(province: str) -> int:
    """The advisory-lock key of a province: one per code, none shared with other users."""
    return (_PROVINCE_LOCKS << 32) | zlib.crc32(province.encode())


class ConcurrentFactWrite(RuntimeError):
    """Another transaction changed a flow identity this batch corrects (one unit's events are
    one partition's, so only a rebalance's overlap can): the batch fails and is retried."""


FactIdentity = tuple[str, str, str]


def _save_facts(update: str, guard: str) -> str:
    """One statement per batch: the facts upserted (``update`` where ``guard`` holds), and
    each identity's held fact before (``old``: the statement's snapshot). The two come back as
    one list (``before`` tells them apart, ``_held_and_saved``) and are paired by identity in
    Python: joining them in SQL left the pairing to the planner, which, believing
    ``json_to_recordset`` yields 100 rows, chose a nested loop — quadratic, 300 ms for 1,500
    figures."""
    return (
        f"WITH x AS (SELECT * FROM {_FACT_ROWS}),"
        " old AS (SELECT f.indicator, f.unit_code, f.fact_key, f.revision, f.num, f.den"
        "         FROM x JOIN metrics_facts f USING (indicator, unit_code, fact_key)),"
        f" up AS (INSERT INTO metrics_facts AS f ({_FACT_COLUMNS})"
        f"   SELECT {_FACT_COLUMNS} FROM x"
        f"   ON CONFLICT (indicator, unit_code, fact_key) DO UPDATE SET {update}"
        f"   WHERE {guard}"
        "   RETURNING f.indicator, f.unit_code, f.fact_key, f.revision, f.num, f.den)"
        " SELECT true AS before, * FROM old UNION ALL SELECT false, * FROM up"
    )


def _held_and_saved(
    rows: Iterable[Any],
) -> tuple[dict[FactIdentity, Held], dict[FactIdentity, Held]]:
    """A ``_save_facts`` result: per identity, what was held before, and what was saved."""
    held: dict[FactIdentity, Held] = {}
    saved: dict[FactIdentity, Held] = {}
    for r in rows:
        side = held if r["before"] else saved
        side[(r["indicator"], r["unit_code"], r["fact_key"])] = Held(
            r["revision"], r["num"], r["den"]
        )
    return held, saved


#: Flow figures: a higher revision replaces, the same adds, a lower one changes nothing (the
#: guard); the caller checks what was saved against what was held.
_SAVE_FIGURES = _save_facts(
    "num = CASE WHEN EXCLUDED.revision > f.revision THEN EXCLUDED.num"
    "         ELSE f.num + EXCLUDED.num END,"
    " den = CASE WHEN EXCLUDED.revision > f.revision THEN EXCLUDED.den"
    "         ELSE f.den + EXCLUDED.den END,"
    " received_at = CASE WHEN EXCLUDED.revision > f.revision THEN EXCLUDED.received_at"
    "         ELSE greatest(f.received_at, EXCLUDED.received_at) END,"
    " revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, scope = EXCLUDED.scope,"
    " stored_at = now()",
    "EXCLUDED.revision >= f.revision",
)


def _expected(figure: Figure, held: Held | None) -> Held | None:
    """What the guarded upsert leaves for a figure (None: it changes nothing)."""
    if held is None or figure.revision > held.revision:
        return Held(figure.revision, figure.num, figure.den)
    if figure.revision < held.revision:
        return None
    den = None if held.den is None or figure.den is None else held.den + figure.den
    return Held(held.revision, held.num + figure.num, den)


#: Keys of aggregate rows as a relation ``k`` (``i`` = position in the list given).
_KEY_ROWS = (
    "json_to_recordset($1::json) AS k(i int, indicator text, granularity text, scope text,"
    " period_start date, floor date)"
)


def _keys_json(keys: Sequence[RowKey], floors: Sequence[date] | None = None) -> str:
    return to_json(
        {
            "i": i,
            "indicator": k.indicator,
            "granularity": k.granularity,
            "scope": k.scope,
            "period_start": k.period_start,
            "floor": floors[i] if floors is not None else None,
        }
        for i, k in enumerate(keys)
    )


def _added(column: str) -> str:
    """A part after the upsert: the delta added to it (a missing delta adds nothing)."""
    return (
        f"CASE WHEN EXCLUDED.{column} IS NULL THEN a.{column}"
        f" ELSE coalesce(a.{column}, 0) + EXCLUDED.{column} END"
    )


_HAS_OWN = "a.own_count + EXCLUDED.own_count > 0"
_NEW_NUM = f"CASE WHEN {_HAS_OWN} THEN {_added('own_num')} ELSE {_added('kid_num')} END"
_NEW_DEN = f"CASE WHEN {_HAS_OWN} THEN {_added('own_den')} ELSE {_added('kid_den')} END"
#: ``core.flow_cell`` for a batch of cells of one level (see ``PostgresStore.add_flow_deltas``).
_ADD_FLOW_DELTAS = (
    "INSERT INTO metrics_aggregates AS a (indicator, granularity, scope, period_start,"
    " period_end, parent_scope, level, code, own_num, own_den, own_count, own_fresh, kid_num,"
    " kid_den, num, den, carried, version, updated_at)"
    " SELECT indicator, granularity, scope, period_start, period_end, parent_scope, level, code,"
    "  own_num, own_den, own_count, own_count > 0, kid_num, kid_den,"
    "  CASE WHEN own_count > 0 THEN own_num ELSE kid_num END,"
    "  CASE WHEN own_count > 0 THEN own_den ELSE kid_den END, false, 1, now()"
    " FROM json_to_recordset($1::json) AS x(indicator text, granularity text, scope text,"
    "  period_start date, period_end date, parent_scope text, level text, code text,"
    "  own_num numeric, own_den numeric, own_count int, kid_num numeric, kid_den numeric)"
    " ON CONFLICT (indicator, granularity, scope, period_start) DO UPDATE SET"
    f" own_num = {_added('own_num')}, own_den = {_added('own_den')},"
    " own_count = a.own_count + EXCLUDED.own_count, own_fresh = " + _HAS_OWN + ","
    f" kid_num = {_added('kid_num')}, kid_den = {_added('kid_den')},"
    f" num = {_NEW_NUM}, den = {_NEW_DEN}, carried = false,"
    f" version = a.version + CASE WHEN ({_NEW_NUM}, {_NEW_DEN}) IS DISTINCT FROM (a.num, a.den)"
    "  THEN 1 ELSE 0 END, updated_at = now()"
    " RETURNING a.indicator, a.granularity, a.scope, a.period_start, a.own_num, a.own_den,"
    "  a.own_count, a.kid_num, a.kid_den, a.num, a.den, a.version, (a.xmax = 0) AS inserted"
)


def _minus(
    num: Decimal | None, den: Decimal | None, delta: Delta | None
) -> tuple[Decimal | None, Decimal | None]:
    """A part before a delta was added to it."""
    if delta is None or num is None:
        return num, den
    return num - delta.num, den if delta.den is None or den is None else den - delta.den


def _cell_columns(k: RowKey) -> dict[str, Any]:
    """An aggregate cell's identifying columns, as written by every upsert of cells."""
    parent, level, code = scope_columns(k.scope)
    return {
        "indicator": k.indicator,
        "granularity": k.granularity,
        "scope": k.scope,
        "period_start": k.period_start,
        "period_end": period_end_of(k.period_start, k.granularity),
        "parent_scope": parent,
        "level": level,
        "code": code,
    }


#: Stock facts: the best-ranked fact of an identity replaces the held one.
_SAVE_STOCK_FACTS = _save_facts(
    "num = EXCLUDED.num, den = EXCLUDED.den, revision = EXCLUDED.revision,"
    " received_at = EXCLUDED.received_at, event_id = EXCLUDED.event_id,"
    " scope = EXCLUDED.scope, stored_at = now()",
    "(EXCLUDED.revision, EXCLUDED.received_at, EXCLUDED.event_id::text)"
    " > (f.revision, f.received_at, f.event_id::text)",
)

#: Per fact (``k.i``): its series' first later fact per granularity, and its latest earlier
#: one (``prior``), each a probe of the as-of index.
_STOCK_SERIES = (
    f"WITH k AS ({_tuple_rows('indicator text, unit_code text, series text, d date, g smallint')})"
    " SELECT k.i, f.granularity, min(f.observed_at) AS day, NULL::text AS scope,"
    "   NULL::numeric AS num, NULL::numeric AS den, false AS prior"
    " FROM k JOIN metrics_facts f ON f.part = 'stock' AND f.indicator = k.indicator"
    "  AND f.unit_code = k.unit_code AND f.series = k.series AND f.observed_at >= k.d"
    "  AND (f.observed_at, f.gran_order) > (k.d, k.g)"
    " GROUP BY k.i, f.granularity"
    " UNION ALL"
    " SELECT k.i, p.granularity, p.observed_at, p.scope, p.num, p.den, true FROM k"
    " CROSS JOIN LATERAL (SELECT f.granularity, f.observed_at, f.scope, f.num, f.den"
    "   FROM metrics_facts f WHERE f.part = 'stock' AND f.indicator = k.indicator"
    "    AND f.unit_code = k.unit_code AND f.series = k.series"
    "    AND (f.observed_at, f.gran_order) < (k.d, k.g)"
    "   ORDER BY f.observed_at DESC, f.gran_order DESC LIMIT 1) p"
)

#: The columns of a stored aggregate row (``p``: the table's alias, ``as_``: a prefix for
#: the names they come back under), as ``stored_row`` reads them.
STORED_COLUMNS = (
    "{p}own_num AS {as_}own_num, {p}own_den AS {as_}own_den, {p}own_count AS {as_}own_count,"
    " {p}own_fresh AS {as_}own_fresh, {p}num AS {as_}num, {p}den AS {as_}den,"
    " {p}carried AS {as_}carried, {p}version AS {as_}version, {p}kid_num AS {as_}kid_num,"
    " {p}kid_den AS {as_}kid_den"
)

#: Per stock cell (``k.i``): its row, else its base (the node's latest earlier row whose
#: period ends at or after the tree's floor), and whether a later period of the node is stored.
_STOCK_CELLS = (
    f"SELECT k.i, {STORED_COLUMNS.format(p='c.', as_='')},"
    f" {STORED_COLUMNS.format(p='b.', as_='b_')}, b.period_start AS b_period_start,"
    " EXISTS (SELECT 1 FROM metrics_aggregates n WHERE n.indicator = k.indicator"
    "   AND n.granularity = k.granularity AND n.scope = k.scope"
    "   AND n.period_start > k.period_start) AS later"
    f" FROM {_KEY_ROWS}"
    " LEFT JOIN metrics_aggregates c USING (indicator, granularity, scope, period_start)"
    " LEFT JOIN LATERAL (SELECT * FROM metrics_aggregates b WHERE c.version IS NULL"
    "   AND b.indicator = k.indicator AND b.granularity = k.granularity AND b.scope = k.scope"
    "   AND b.period_start < k.period_start AND b.period_end >= k.floor"
    "   ORDER BY b.period_start DESC LIMIT 1) b ON true"
)


def stored_row(key: RowKey, r: Any, prefix: str) -> Row:
    """A stored aggregate row, read under ``prefix`` (``STORED_COLUMNS``)."""
    own = None
    if r[prefix + "own_count"] > 0:
        own = Own(
            r[prefix + "own_num"], r[prefix + "own_den"], r[prefix + "own_count"],
            r[prefix + "own_fresh"],
        )  # fmt: skip
    return Row(
        key, own, r[prefix + "num"], r[prefix + "den"], r[prefix + "carried"],
        r[prefix + "version"], r[prefix + "kid_num"], r[prefix + "kid_den"],
    )  # fmt: skip


class PostgresStore:
    """``conn`` is an asyncpg connection inside an open transaction."""

    def __init__(
        self,
        conn: Any,
        scales: dict[str, int] | None = None,
        known_nodes: set[Node] | frozenset[Node] = frozenset(),
        processed_on: date | None = None,
    ) -> None:
        self.conn = conn
        #: The month claimed events are recorded under: that of ``processed_on`` (UTC today
        #: unless given), whose partition must exist (``keep_dedup_window``).
        self.claim_month = month_start(processed_on or utc_now().date())
        self.superseded: dict[Part, int] = {}
        self.stock_paths: dict[str, int] = {}
        self.scales = scales or {}
        #: Nodes committed earlier (never deleted): their insert is skipped.
        self.known_nodes = known_nodes
        #: Nodes this transaction inserted; the caller adds them to ``known_nodes`` once it
        #: committed (not before: a rolled-back insert must be done again).
        self.new_nodes: set[Node] = set()

    async def claim_events(self, keys: Sequence[EventKey]) -> set[EventKey]:
        """One statement: ids are inserted into this month's partition unless it holds them
        (the key, as before) or an earlier kept month does (the month is part of the key, so
        those are looked up; later months are pruned). Two replicas claiming one id at once
        meet on the key: one waits for the other's commit, then skips it. Only the positions
        of the ids not inserted (copies, a few) come back, not every new id."""
        rows = await self.conn.fetch(
            f"WITH k AS ({_tuple_rows('provider text, event_id uuid')}),"
            f" new AS (INSERT INTO {PROCESSED_EVENTS} (provider, event_id, processed_month)"
            "   SELECT k.provider, k.event_id, $2 FROM k"
            f"  WHERE NOT EXISTS (SELECT 1 FROM {PROCESSED_EVENTS} p"
            "     WHERE p.provider = k.provider AND p.event_id = k.event_id"
            "       AND p.processed_month < $2)"
            "   ON CONFLICT DO NOTHING RETURNING provider, event_id)"
            " SELECT k.i FROM k WHERE NOT EXISTS (SELECT 1 FROM new"
            "   WHERE new.provider = k.provider AND new.event_id = k.event_id)",
            to_json(keys),
            self.claim_month,
        )
        if not rows:
            return set(keys)
        copies = {r[0] - 1 for r in rows}
        return {k for i, k in enumerate(keys) if i not in copies}

    async def save_flow_figures(self, figures: Sequence[Figure]) -> list[Held | None]:
        rows = await self.conn.fetch(
            _SAVE_FIGURES, to_json(_fact_row(g.fact, g.num, g.den) for g in figures)
        )
        held, saved = _held_and_saved(rows)
        before: list[Held | None] = []
        # One figure per identity (``core.PlanBuilder``): the identity finds its figure.
        for figure in figures:
            f = figure.fact
            ident = (f.indicator, f.unit_code, f.fact_key)
            was, now = held.get(ident), saved.get(ident)
            if now != _expected(figure, was):
                raise ConcurrentFactWrite(f"{f.fact_key}: held {was}, now {now}")
            before.append(was)
        return before

    async def save_stock_facts(self, facts: Sequence[Fact]) -> list[tuple[Fact, Held | None]]:
        """The caller holds the facts' provinces (``lock_provinces``), as every writer of
        stock facts does: what the statement's snapshot holds is what its upsert replaces."""
        rows = await self.conn.fetch(_SAVE_STOCK_FACTS, _facts_json(facts))
        held, saved = _held_and_saved(rows)
        out: list[tuple[Fact, Held | None]] = []
        for f in facts:
            ident = (f.indicator, f.unit_code, f.fact_key)
            if ident in saved:
                out.append((f, held.get(ident)))
        return out

    async def stock_series(self, facts: Sequence[Fact]) -> list[Around]:
        rows = await self.conn.fetch(
            _STOCK_SERIES,
            to_json(
                (f.indicator, f.unit_code, f.series, f.observed_at, gran_order(f.granularity))
                for f in facts
            ),
        )
        out = [Around({}, None) for _ in facts]
        for r in rows:
            i = r["i"] - 1
            if r["prior"]:
                g = Granularity(r["granularity"])
                out[i] = out[i]._replace(prior=Prior(r["day"], g, r["scope"], r["num"], r["den"]))
            else:
                out[i].later[Granularity(r["granularity"])] = r["day"]
        return out

    async def stock_cells(self, keys: Sequence[RowKey]) -> dict[RowKey, Ahead]:
        floors = [era_floor(k.period_start, k.granularity) for k in keys]
        out: dict[RowKey, Ahead] = {}
        for r in await self.conn.fetch(_STOCK_CELLS, _keys_json(keys, floors)):
            key = keys[r["i"]]
            row = base = None
            if r["version"] is not None:
                row = stored_row(key, r, "")
            elif r["b_version"] is not None:
                base = stored_row(key._replace(period_start=r["b_period_start"]), r, "b_")
            out[key] = Ahead(row, base, r["later"])
        return out

    async def stored_periods(
        self, ranges: Sequence[tuple[str, Granularity, str, date, date | None]]
    ) -> list[list[date]]:
        rows = await self.conn.fetch(
            "SELECT k.i, a.period_start"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[])"
            "      WITH ORDINALITY AS k(indicator, granularity, scope, d0, d1, i)"
            " JOIN metrics_aggregates a ON a.indicator = k.indicator"
            "  AND a.granularity = k.granularity AND a.scope = k.scope"
            "  AND a.period_start >= k.d0 AND (k.d1 IS NULL OR a.period_start < k.d1)",
            [r[0] for r in ranges],
            [r[1].value for r in ranges],
            [r[2] for r in ranges],
            [r[3] for r in ranges],
            [r[4] for r in ranges],
        )
        out: list[list[date]] = [[] for _ in ranges]
        for r in rows:
            out[r["i"] - 1].append(r["period_start"])
        return out

    async def load_rows(self, keys: Sequence[RowKey]) -> dict[RowKey, Row]:
        rows = await self.conn.fetch(
            f"SELECT k.i, {STORED_COLUMNS.format(p='a.', as_='')}"
            f" FROM {_KEY_ROWS} JOIN metrics_aggregates a"
            "  USING (indicator, granularity, scope, period_start)",
            _keys_json(keys),
        )
        return {keys[r["i"]]: stored_row(keys[r["i"]], r, "") for r in rows}

    async def stock_own(self, keys: Sequence[RowKey]) -> dict[RowKey, Own]:
        rows = await self.conn.fetch(
            "SELECT k.i, sum(x.num) AS num, sum(x.den) AS den, count(*) AS n,"
            "       bool_or(x.observed_at >= k.p0) AS fresh"
            " FROM unnest($1::text[], $2::text[], $3::smallint[], $4::date[], $5::date[],"
            "             $6::date[])"
            "      WITH ORDINALITY AS k(indicator, scope, g, p0, p1, floor, i)"
            " CROSS JOIN LATERAL ("
            "   SELECT DISTINCT ON (f.series) f.num, f.den, f.observed_at FROM metrics_facts f"
            "   WHERE f.part = 'stock' AND f.indicator = k.indicator"
            "     AND f.unit_code = split_part(k.scope, '/', -1) AND f.scope = k.scope"
            "     AND f.gran_order <= k.g AND f.observed_at <= k.p1 AND f.observed_at >= k.floor"
            "   ORDER BY f.series, f.observed_at DESC, f.gran_order DESC"
            " ) x GROUP BY k.i",
            [k.indicator for k in keys],
            [k.scope for k in keys],
            [gran_order(k.granularity) for k in keys],
            [k.period_start for k in keys],
            [k.period_end for k in keys],
            [era_floor(k.period_start, k.granularity) for k in keys],
        )
        return {keys[r["i"] - 1]: Own(r["num"], r["den"], r["n"], r["fresh"]) for r in rows}

    async def children(self, keys: Sequence[RowKey], carry: bool) -> dict[RowKey, list[ChildValue]]:
        """Summed in SQL: one (exact, ``numeric``) sum per key instead of a row per child —
        ``core.combine`` sums a key's children, and a sum of one is the sum."""
        # One backward probe of the primary key per child node (LIMIT 1): no history scans.
        probe = (
            "SELECT c.num, c.den, c.carried, c.period_start, c.period_end"
            " FROM metrics_aggregates c WHERE c.indicator = k.indicator"
            "  AND c.granularity = k.granularity AND c.scope = n.scope"
        )
        probe += (
            " AND c.period_start <= k.period_start ORDER BY c.period_start DESC LIMIT 1"
            if carry
            else " AND c.period_start = k.period_start"
        )
        sql = (
            "SELECT k.i, sum(x.num) AS num, sum(x.den) AS den,"
            "       bool_or(x.period_start = k.period_start AND NOT x.carried) AS fresh"
            f" FROM {_KEY_ROWS}"
            " JOIN metrics_nodes n ON n.indicator = k.indicator"
            "  AND n.granularity = k.granularity AND n.parent_scope = k.scope"
            f" CROSS JOIN LATERAL ({probe}) x"
            " WHERE x.num IS NOT NULL AND x.period_end >= k.floor"
            " GROUP BY k.i"
        )
        floors = [era_floor(k.period_start, k.granularity) if carry else date.min for k in keys]
        out: dict[RowKey, list[ChildValue]] = {}
        for r in await self.conn.fetch(sql, _keys_json(keys, floors)):
            out[keys[r["i"]]] = [ChildValue(r["num"], r["den"], r["fresh"])]
        return out

    async def lock_provinces(self, provinces: Sequence[str]) -> None:
        # Transaction-scoped advisory locks, one per province, in one statement, taken in the
        # order given (the subquery's order is the order the aggregate reads its rows in).
        await self.conn.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM"
            " (SELECT k FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i) s",
            [province_lock(p) for p in provinces],
        )

    async def _insert_nodes(self, keys: Iterable[RowKey]) -> None:
        """Record each stock cell's node under its parent (``children`` walks them), once."""
        known, new = self.known_nodes, self.new_nodes
        nodes: set[Node] = set()
        for k in keys:
            parent = scope_columns(k.scope)[0]
            if parent:
                node = (k.indicator, k.granularity.value, parent, k.scope)
                if node not in known and node not in new:
                    nodes.add(node)
        if nodes:
            await self.conn.execute(
                "INSERT INTO metrics_nodes (indicator, granularity, parent_scope, scope)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " ON CONFLICT DO NOTHING",
                *(list(column) for column in zip(*sorted(nodes), strict=True)),
            )
            new |= nodes

    async def write_rows(self, rows: Sequence[Row]) -> None:
        await self._insert_nodes(r.key for r in rows)
        data = []
        for r in rows:
            own = r.own
            data.append(
                _cell_columns(r.key)
                | {
                    "own_num": own.num if own else None,
                    "own_den": own.den if own else None,
                    "own_count": own.reports if own else 0,
                    "own_fresh": own.fresh if own else False,
                    "kid_num": r.kid_num,
                    "kid_den": r.kid_den,
                    "num": r.num,
                    "den": r.den,
                    "carried": r.carried,
                    "version": r.version,
                }
            )
        await self.conn.execute(
            "INSERT INTO metrics_aggregates (indicator, granularity, scope, period_start,"
            " period_end, parent_scope, level, code, own_num, own_den, own_count, own_fresh,"
            " kid_num, kid_den, num, den, carried, version, updated_at)"
            " SELECT *, now() FROM json_to_recordset($1::json) AS x(indicator text,"
            "  granularity text, scope text, period_start date, period_end date,"
            "  parent_scope text, level text, code text, own_num numeric, own_den numeric,"
            "  own_count int, own_fresh bool, kid_num numeric, kid_den numeric, num numeric,"
            "  den numeric, carried bool, version int)"
            " ON CONFLICT (indicator, granularity, scope, period_start) DO UPDATE SET"
            " own_num = EXCLUDED.own_num, own_den = EXCLUDED.own_den,"
            " own_count = EXCLUDED.own_count, own_fresh = EXCLUDED.own_fresh,"
            " kid_num = EXCLUDED.kid_num, kid_den = EXCLUDED.kid_den,"
            " num = EXCLUDED.num, den = EXCLUDED.den,"
            " carried = EXCLUDED.carried, version = EXCLUDED.version, updated_at = now()",
            to_json(data),
        )

    async def add_flow_deltas(self, deltas: Sequence[FlowDelta]) -> list[Change]:
        """``core.flow_cell`` as one upsert per level. PostgreSQL (before 18) cannot return a
        row's old values from an upsert; the value before is the new state minus the deltas
        added (exact: ``numeric`` and ``Decimal``), or nothing for a row just inserted. Flow
        cells are not recorded in ``metrics_nodes``: only the exact stock path walks it."""
        rows = []
        for d in deltas:
            add, kids = d.own, d.kids
            rows.append(
                _cell_columns(d.key)
                | {
                    "own_num": add.num if add else None,
                    "own_den": add.den if add else None,
                    "own_count": add.identities if add else 0,
                    "kid_num": kids.num if kids else None,
                    "kid_den": kids.den if kids else None,
                }
            )
        by_key: dict[tuple[str, str, str, date], FlowDelta] = {d.key: d for d in deltas}
        changes: list[Change] = []
        # Unpacked in _ADD_FLOW_DELTAS's RETURNING order (a record read by name costs a lookup
        # per column, and there are tens of thousands of rows).
        returned = await self.conn.fetch(_ADD_FLOW_DELTAS, to_json(rows))
        for (indicator, granularity, scope, start, own_num, own_den, reports, kid_num, kid_den,
             num, den, version, inserted) in returned:  # fmt: skip
            # A StrEnum hashes and compares as its text: the key finds the RowKey it came from.
            d = by_key[(indicator, granularity, scope, start)]
            own = Own(own_num, own_den, reports, True) if reports > 0 else None
            row = Row(d.key, own, num, den, False, version, kid_num, kid_den)
            if inserted:
                changes.append(Change(row, None))
                continue
            if reports - (d.own.identities if d.own else 0) > 0:
                before = _minus(own_num, own_den, d.own)
            else:
                before = _minus(kid_num, kid_den, d.kids)
            if before != (num, den):
                changes.append(Change(row, Row(d.key, None, *before, False, version - 1)))
        return changes
