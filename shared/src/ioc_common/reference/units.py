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
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

REFORM_DATE: Final = date(2025, 7, 1)

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


@cache
def unit_tree() -> UnitTree:
    """The process-wide tree, loaded on first use."""
    return UnitTree.load()
