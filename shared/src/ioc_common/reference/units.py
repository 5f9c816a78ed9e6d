"""Vietnamese administrative units, versioned by the date they are valid on.

Two trees ship in ``ioc_common/reference/data`` (regenerate with ``scripts/build_admin_units.py``):

* legacy, until 2025-06-30: 63 provinces → districts → communes;
* from 2025-07-01 (``REFORM_DATE``): 34 provinces → communes.

Codes are reused across the trees (province ``08`` is Tuyên Quang in both, but the new one
absorbed Hà Giang; commune ``00004`` is Trúc Bạch before and Ba Đình after), so a unit is always
looked up by ``(code, date)``. Dates are calendar dates in Vietnam time; datetimes are refused.

The platform still aggregates by district after the reform: each new commune carries the
``former_district_code`` of the legacy district most of its predecessors belonged to. Those
former districts are legacy units (``get`` finds them only before the reform) but ``roll_up``,
``district_of``, ``contains``, ``children`` and ``districts_of_province`` treat them as the
district level on every date.

The module functions below the tree are the platform's one statement of the unit rules every
service uses: ``level_of`` (a code's level by its length), ``within`` (reform-aware
containment), ``unit_name``, ``province_of`` and ``district_of``.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

from ioc_common.timeutil import vietnam_today

REFORM_DATE: Final = date(2025, 7, 1)
#: The legacy tree's last day: former provinces and districts are looked up on it.
LAST_LEGACY_DAY: Final = REFORM_DATE - timedelta(days=1)

_PACKAGE: Final = "ioc_common.reference"
_DATA_DIR: Final = "data"
_META_FILE: Final = "admin_units_meta.json"
_CROSSWALK_FILE: Final = "crosswalk_2025.csv"


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class UnknownUnitError(LookupError):
    """No unit with that code on that date (or, for the crosswalk, no such legacy commune)."""

    def __init__(self, code: str, on: date | None, detail: str = "") -> None:
        self.code = code
        self.on = on
        when = f" on {on.isoformat()}" if on is not None else ""
        super().__init__(
            f"unknown administrative unit {code!r}{when}{': ' + detail if detail else ''}"
        )


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    level: Level
    parent_code: str | None
    valid_from: date
    valid_to: date | None
    former_district_code: str | None = None


@dataclass(frozen=True, slots=True)
class _Version:
    valid_from: date
    valid_to: date | None
    units: dict[str, Unit]
    children: dict[str, list[Unit]]
    provinces: list[Unit]

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


def _rows(name: str, header: list[str]) -> Iterator[list[str]]:
    text = resources.files(_PACKAGE).joinpath(_DATA_DIR, name).read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    found = next(reader, None)
    if found != header:
        raise ValueError(f"{name}: header {found}, expected {header}")
    yield from reader


def _load_version(info: dict[str, Any], with_former: bool) -> _Version:
    valid_from = date.fromisoformat(info["valid_from"])
    valid_to = date.fromisoformat(info["valid_to"]) if info["valid_to"] else None
    header = ["code", "name", "level", "parent_code"]
    if with_former:
        header.append("former_district_code")
    units: dict[str, Unit] = {}
    children: dict[str, list[Unit]] = defaultdict(list)
    provinces: list[Unit] = []
    for row in _rows(info["file"], header):
        code, name, level, parent = row[0], row[1], Level(row[2]), row[3] or None
        former = (row[4] or None) if with_former else None
        unit = Unit(code, name, level, parent, valid_from, valid_to, former)
        if units.setdefault(code, unit) is not unit:
            raise ValueError(f"{info['file']}: duplicate code {code}")
        if parent is None:
            provinces.append(unit)
        else:
            children[parent].append(unit)
    # Files are sorted by (level, code), so these lists already come out sorted by code.
    return _Version(valid_from, valid_to, units, dict(children), provinces)


def _folded(name: str) -> str:
    """A name compared across the reform: one Unicode form, any case (tone marks are kept)."""
    return unicodedata.normalize("NFC", name).casefold()


def _check_date(on: date) -> None:
    # datetime is a date subclass; its own timezone would silently pick the day.
    if isinstance(on, datetime):
        raise TypeError("pass a date (Vietnam calendar day), not a datetime")


class UnitTree:
    """Both trees plus the crosswalk, indexed once; use ``unit_tree()`` for the shared copy."""

    __slots__ = (
        "_by_former_district",
        "_crosswalk",
        "_current",
        "_former_districts",
        "_former_province",
        "_legacy",
        "_predecessors",
        "_province_successor",
        "_whole_district",
        "meta",
    )

    def __init__(
        self,
        legacy: _Version,
        current: _Version,
        crosswalk: dict[str, list[tuple[str, bool]]],
        meta: dict[str, Any],
    ) -> None:
        self._legacy = legacy
        self._current = current
        self._crosswalk = crosswalk
        self.meta = meta
        # Island districts without communes that became one đặc khu each.
        self._whole_district: dict[str, str] = dict(meta["whole_district_successors"])
        self._by_former_district: dict[str, list[Unit]] = defaultdict(list)
        self._former_province: dict[str, str] = {}
        for unit in current.units.values():
            district = unit.former_district_code
            if district is None:
                continue
            if district not in legacy.units or legacy.units[district].level is not Level.DISTRICT:
                raise ValueError(
                    f"{unit.code}: former district {district} is not a legacy district"
                )
            assert unit.parent_code is not None  # a commune always has its province
            # A former district must roll up into exactly one new province.
            if self._former_province.setdefault(district, unit.parent_code) != unit.parent_code:
                raise ValueError(f"former district {district} spans several new provinces")
            self._by_former_district[district].append(unit)
        self._by_former_district = dict(self._by_former_district)
        self._former_districts: dict[str, list[Unit]] = defaultdict(list)
        for district, province in sorted(self._former_province.items()):
            self._former_districts[province].append(legacy.units[district])
        self._former_districts = dict(self._former_districts)
        # Provinces merged whole: every district of a former province went to one new one.
        self._province_successor: dict[str, str] = {}
        for district, province in self._former_province.items():
            old = legacy.units[district].parent_code
            assert old is not None
            if self._province_successor.setdefault(old, province) != province:
                raise ValueError(f"former province {old} spans several new provinces")
        self._predecessors: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for old, news in crosswalk.items():
            for new, is_split in news:
                self._predecessors[new].append((old, is_split))
        for old, new in self._whole_district.items():
            self._predecessors[new].append((old, False))
        for found in self._predecessors.values():
            found.sort()
        self._predecessors = dict(self._predecessors)

    @classmethod
    def load(cls) -> UnitTree:
        """Read the packaged files (no network); prefer the cached ``unit_tree()``."""
        text = resources.files(_PACKAGE).joinpath(_DATA_DIR, _META_FILE).read_text("utf-8")
        meta: dict[str, Any] = json.loads(text)
        versions = meta["versions"]
        legacy = _load_version(versions["legacy"], with_former=False)
        current = _load_version(versions["2025"], with_former=True)
        if current.valid_from != REFORM_DATE:
            raise ValueError(f"2025 tree starts {current.valid_from}, expected {REFORM_DATE}")
        crosswalk: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for old, new, is_split in _rows(
            _CROSSWALK_FILE, ["legacy_commune_code", "new_commune_code", "is_split"]
        ):
            crosswalk[old].append((new, is_split == "1"))
        return cls(legacy, current, dict(crosswalk), meta)

    # --- lookups

    def _version(self, on: date) -> _Version | None:
        _check_date(on)
        if self._current.covers(on):
            return self._current
        return self._legacy if self._legacy.covers(on) else None

    def _former_district(self, code: str, on: date) -> Unit | None:
        """The legacy district ``code`` acting as the aggregation district after the reform."""
        if on >= REFORM_DATE and code in self._by_former_district:
            return self._legacy.units[code]
        return None

    def get(self, code: str, on: date) -> Unit | None:
        """The unit with that code valid on that date, if any."""
        version = self._version(on)
        return version.units.get(code) if version is not None else None

    def require(self, code: str, on: date) -> Unit:
        unit = self.get(code, on)
        if unit is None:
            hint = ""
            if self._former_district(code, on) is not None:
                hint = "a legacy district, kept after the reform only as a former district"
            raise UnknownUnitError(code, on, hint)
        return unit

    def children(self, code: str, on: date) -> list[Unit]:
        """Units directly under ``code``; after the reform a former district's are its communes."""
        unit = self.get(code, on)
        if unit is not None:
            version = self._version(on)
            assert version is not None
            return list(version.children.get(code, ()))
        if self._former_district(code, on) is not None:
            return list(self._by_former_district[code])
        raise UnknownUnitError(code, on)

    def roll_up(self, code: str, on: date) -> dict[Level, str]:
        """The aggregation path of ``code`` on that date, from itself up to its province."""
        unit = self.get(code, on)
        if unit is None:
            if self._former_district(code, on) is None:
                raise UnknownUnitError(code, on)
            return {Level.DISTRICT: code, Level.PROVINCE: self._former_province[code]}
        path = {unit.level: unit.code}
        if unit.former_district_code is not None:
            assert unit.parent_code is not None
            path[Level.DISTRICT] = unit.former_district_code
            path[Level.PROVINCE] = unit.parent_code
            return path
        version = self._version(on)
        assert version is not None
        parent = unit.parent_code
        while parent is not None:
            above = version.units[parent]
            path[above.level] = above.code
            parent = above.parent_code
        return path

    def district_of(self, code: str, on: date) -> str | None:
        """The (former) district code used as the Kafka message key; None for a province."""
        return self.roll_up(code, on).get(Level.DISTRICT)

    def contains(self, ancestor_code: str, code: str, on: date) -> bool:
        """Whether ``code`` is ``ancestor_code`` or lies under it on that date."""
        ancestor_level = next(iter(self.roll_up(ancestor_code, on)))  # its own level comes first
        return self.roll_up(code, on).get(ancestor_level) == ancestor_code

    def provinces(self, on: date) -> list[Unit]:
        version = self._version(on)
        return list(version.provinces) if version is not None else []

    def districts_of_province(self, province_code: str, on: date) -> list[Unit]:
        """The districts aggregated under a province; after the reform, its former districts."""
        province = self.require(province_code, on)
        if province.level is not Level.PROVINCE:
            raise UnknownUnitError(province_code, on, f"a {province.level}, not a province")
        if on < REFORM_DATE:
            return self.children(province_code, on)
        return list(self._former_districts.get(province_code, ()))

    def successors(self, legacy_commune_code: str) -> list[tuple[str, bool]]:
        """The 2025 communes a legacy commune went into, as ``(code, is_split)`` by code.

        The five commune-less island districts are accepted too and give their đặc khu.
        """
        found = self._crosswalk.get(legacy_commune_code)
        if found is not None:
            return list(found)
        if legacy_commune_code in self._whole_district:
            return [(self._whole_district[legacy_commune_code], False)]
        raise UnknownUnitError(legacy_commune_code, None, "not a legacy commune")

    def is_former_district(self, code: str) -> bool:
        """Whether a legacy district still aggregates its area after the reform."""
        return code in self._by_former_district

    def is_island_district(self, code: str) -> bool:
        """One of the commune-less island districts that became a đặc khu whole."""
        return code in self._whole_district

    def predecessors(self, new_commune_code: str) -> list[tuple[str, bool]]:
        """The legacy communes (or commune-less island district) a 2025 commune was made of, as
        ``(code, is_split)`` by code; ``is_split``: only part of that legacy commune came in."""
        found = self._predecessors.get(new_commune_code)
        if found is None:
            raise UnknownUnitError(new_commune_code, REFORM_DATE, "not a 2025 commune")
        return list(found)

    def successor_province(self, legacy_code: str) -> str | None:
        """The 2025 province a legacy province, district or commune now lies in (02 Hà Giang →
        08 Tuyên Quang); ``None`` for a code unknown on the last legacy day."""
        try:
            province = self.roll_up(legacy_code, LAST_LEGACY_DAY)[Level.PROVINCE]
        except UnknownUnitError:
            return None
        return self._province_successor.get(province)

    def predecessor_provinces(self, province_code: str) -> list[Unit]:
        """The legacy provinces a 2025 province was made of (08 → 02 Hà Giang, 08 Tuyên
        Quang), by code; empty for a code that is not a 2025 province."""
        return [
            self._legacy.units[old]
            for old, new in sorted(self._province_successor.items())
            if new == province_code
        ]

    def reused(self, code: str) -> tuple[Unit, Unit] | None:
        """``(legacy, current)`` when the code names a different unit after the reform than
        before it: another province, or another name for a unit merged from several (commune
        00004 was Trúc Bạch, is Ba Đình; province 44 was Quảng Bình, is Quảng Trị). ``None``
        when it names one unit (kept, grown under its name, or only renamed) or one side."""
        old, new = self._legacy.units.get(code), self._current.units.get(code)
        if old is None or new is None:
            return None
        if old.level is Level.PROVINCE:
            made_of = [u.code for u in self.predecessor_provinces(code)]
        else:
            made_of = [c for c, _ in self._predecessors.get(code, ())]
        if self.successor_province(code) != (new.parent_code or code):
            return (old, new)  # moved to another province: another unit
        if _folded(old.name) == _folded(new.name) or made_of == [code]:
            return None  # the same unit, grown or only renamed (Thừa Thiên Huế → Huế)
        return (old, new)


@dataclass(frozen=True, slots=True)
class UnitLink:
    """Another unit named by a unit's history; ``is_split``: only part of it went across."""

    code: str
    name: str
    level: Level
    is_split: bool = False


@dataclass(frozen=True, slots=True)
class UnitVersion:
    """One unit a code named: before the reform (``successors``: where it went on 1 July
    2025) or from it on (``predecessors``: what it was made of)."""

    unit: Unit
    parent: UnitLink | None
    successors: tuple[UnitLink, ...] = ()
    predecessors: tuple[UnitLink, ...] = ()
    #: A legacy district that still aggregates its area after the reform (a "former district").
    former_district: bool = False


@dataclass(frozen=True, slots=True)
class UnitHistory:
    """What a code named before and after the reform, legacy version first."""

    code: str
    versions: tuple[UnitVersion, ...]
    #: Set when the code names a different unit after the reform than before it.
    warning_vi: str | None = None
    warning_en: str | None = None

    @property
    def reused(self) -> bool:
        return self.warning_en is not None


def _link(tree: UnitTree, code: str, on: date, is_split: bool = False) -> UnitLink:
    unit = tree.get(code, on)
    if unit is None:  # a former district after the reform: its legacy self
        unit = tree.require(code, LAST_LEGACY_DAY)
    return UnitLink(unit.code, unit.name, unit.level, is_split)


def reuse_warning(tree: UnitTree, code: str) -> tuple[str, str] | None:
    """The bilingual warning for a code that names another unit after the reform, if it does."""
    found = tree.reused(code)
    if found is None:
        return None
    old, new = found
    return (
        f"Mã {code} được dùng lại: đến {LAST_LEGACY_DAY:%d/%m/%Y} là {old.name}, từ "
        f"{REFORM_DATE:%d/%m/%Y} là {new.name} — đơn vị khác; luôn kèm ngày của số liệu.",
        f"Code {code} was re-used: {old.name} until {LAST_LEGACY_DAY}, {new.name} from "
        f"{REFORM_DATE} — a different unit; always give the period's date with it.",
    )


def unit_history(code: str, tree: UnitTree | None = None) -> UnitHistory:
    """A code before and after the 2025 reform: each unit it named, with its parent and its
    successors (legacy) or predecessors (2025) through the crosswalk, and a warning when the
    code was re-used for a different unit. Raises :class:`UnknownUnitError` for a code that
    named nothing."""
    tree = tree or unit_tree()
    versions: list[UnitVersion] = []
    old = tree.get(code, LAST_LEGACY_DAY)
    if old is not None:
        parent = _link(tree, old.parent_code, LAST_LEGACY_DAY) if old.parent_code else None
        successors: list[UnitLink] = []
        if old.level is Level.COMMUNE or tree.is_island_district(code):
            successors = [_link(tree, c, REFORM_DATE, s) for c, s in tree.successors(code)]
        else:
            province = tree.successor_province(code)
            successors = [_link(tree, province, REFORM_DATE)] if province else []
        former = tree.is_former_district(code)
        versions.append(UnitVersion(old, parent, tuple(successors), former_district=former))
    new = tree.get(code, REFORM_DATE)
    if new is not None:
        parent = _link(tree, new.parent_code, REFORM_DATE) if new.parent_code else None
        if new.level is Level.PROVINCE:
            before = [UnitLink(u.code, u.name, u.level) for u in tree.predecessor_provinces(code)]
        else:
            before = [_link(tree, c, LAST_LEGACY_DAY, s) for c, s in tree.predecessors(code)]
        versions.append(UnitVersion(new, parent, predecessors=tuple(before)))
    if not versions:
        raise UnknownUnitError(code, None, "not a legacy or 2025 unit")
    warning = reuse_warning(tree, code)
    return UnitHistory(
        code,
        tuple(versions),
        warning[0] if warning else None,
        warning[1] if warning else None,
    )


@cache
def unit_tree() -> UnitTree:
    """The process-wide tree, loaded on first use."""
    return UnitTree.load()


# --- the unit rules every service shares

_LEVEL_BY_LENGTH: Final = {2: Level.PROVINCE, 3: Level.DISTRICT, 5: Level.COMMUNE}


def level_of(code: str) -> Level:
    """The level an official code names by its length: province 2 digits, district 3, commune
    5 (legacy and current codes alike). Raises ``ValueError`` for anything else."""
    level = _LEVEL_BY_LENGTH.get(len(code)) if code.isascii() and code.isdigit() else None
    if level is None:
        raise ValueError(
            f"{code!r}: a unit code has 2 (province), 3 (district) or 5 (commune) digits"
        )
    return level


def _days(on: date | Iterable[date] | None) -> tuple[date, ...]:
    if on is None:  # a code of no particular date: today's tree, then the legacy one
        return (vietnam_today(), LAST_LEGACY_DAY)
    return (on,) if isinstance(on, date) else tuple(on)


def _within_on(tree: UnitTree, ancestor: str, code: str, on: date) -> bool:
    try:
        if tree.contains(ancestor, code, on):
            return True
    except UnknownUnitError:
        pass
    if on < REFORM_DATE:
        # Before the reform a 2025 province also covers its predecessor provinces' units:
        # 08 Tuyên Quang reads the history of the former 02 Hà Giang it absorbed.
        return (
            tree.get(code, on) is not None
            and tree.successor_province(code) == ancestor
            and _is_current_province(tree, ancestor)
        )
    # After the reform a unit still belongs to the former province or district its (former)
    # district lay in: 34 Thái Bình and 02 Hà Giang no longer exist, yet are named by targets,
    # subscriptions and operator scopes.
    try:
        district = tree.district_of(code, on)
        return district is not None and tree.contains(ancestor, district, LAST_LEGACY_DAY)
    except UnknownUnitError:
        return False


def _is_current_province(tree: UnitTree, code: str) -> bool:
    unit = tree.get(code, REFORM_DATE)
    return unit is not None and unit.level is Level.PROVINCE


def within(ancestor: str, code: str, on: date | Iterable[date] | None = None) -> bool:
    """Whether ``code`` is ``ancestor`` or lies under it on ``on`` — one day, or any of several.

    ``None`` is for a code of no particular date (an operator's scope, a stored alert's unit):
    today's tree or the last legacy day's. On a day after the reform a unit also lies within a
    former province or district when its former district did on the last legacy day; on a day
    before it, a unit of a former province lies within the 2025 province that absorbed it
    (02 Hà Giang's districts within 08 Tuyên Quang), so a merged province keeps its history.
    """
    if ancestor == code:
        return True
    tree = unit_tree()
    return any(_within_on(tree, ancestor, code, day) for day in _days(on))


def unit_name(code: str, on: date | None = None, *, with_code: bool = False) -> str:
    """``Lâm Bình`` (or ``Lâm Bình (071)``) on ``on`` (default today); former districts and
    legacy codes are looked up on the last legacy day. An unknown code is its own name."""
    tree = unit_tree()
    for day in (vietnam_today() if on is None else on, LAST_LEGACY_DAY):
        unit = tree.get(code, day)
        if unit is not None:
            return f"{unit.name} ({code})" if with_code else unit.name
    return code


def province_of(code: str, on: date | None = None) -> str:
    """The province a unit lies in on ``on`` (default today: Hà Giang's districts are now in
    08); a code unknown then keeps its first two digits."""
    if level_of(code) is Level.PROVINCE:
        return code
    try:
        found = unit_tree().roll_up(code, vietnam_today() if on is None else on).get(Level.PROVINCE)
    except UnknownUnitError:
        found = None
    return found or code[:2]


def district_of(code: str, on: date | Iterable[date] | None = None) -> str | None:
    """The (former) district a unit lies in, looked up on ``on`` as :func:`within` does;
    ``None`` for a province or a code unknown on those days."""
    level = level_of(code)
    if level is not Level.COMMUNE:
        return code if level is Level.DISTRICT else None
    tree = unit_tree()
    for day in _days(on):
        try:
            found = tree.district_of(code, day)
        except UnknownUnitError:
            continue
        if found is not None:
            return found
    return None
