"""The map's boundaries: ``ioc geo import`` validates a whole GeoJSON file (every problem named
by feature and field, in Vietnamese and English, nothing stored on any), simplifies it for the
browser and stores it versioned by date; ``GET /v1/geo`` serves the operator's own units."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ioc_common.audit import audit_log
from ioc_common.db import create_engine, session_factory
from ioc_common.errors import InvalidInput
from ioc_common.testing import run_ioc
from ioc_gateway.geo import (
    DEFAULT_TOLERANCE,
    PRECISION,
    GeoStore,
    douglas_peucker,
    parse_geojson,
    simplify,
)
from ioc_gateway.geo_testing import district_grid, square, write
from ioc_gateway.tables import unit_geometries
from ioc_gateway.testing import gateway_harness

AFTER_REFORM = date(2025, 7, 1)
LEGACY_DAY = date(2024, 1, 1)


def _segment_distance(p: list[float], a: list[float], b: list[float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def _off_outline(points: list[list[float]], outline: list[list[float]]) -> float:
    """How far the farthest of ``points`` lies from the closed ``outline``."""
    return max(
        min(_segment_distance(p, a, b) for a, b in itertools.pairwise(outline)) for p in points
    )


def test_simplification_drops_survey_noise_and_stays_within_the_tolerance() -> None:
    ring = square(105.0, 22.0)
    ((kept,),) = simplify([[[(x, y) for x, y in ring]]], DEFAULT_TOLERANCE)
    assert len(ring) == 321
    assert len(kept) <= 8
    assert kept[0] == kept[-1]
    outline = [list(p) for p in kept]
    rounding = 10**-PRECISION
    assert _off_outline(ring, outline) <= DEFAULT_TOLERANCE + rounding
    assert all(round(v, PRECISION) == v for p in kept for v in p)


def test_douglas_peucker_keeps_a_bend_beyond_the_tolerance_only() -> None:
    line = [(0.0, 0.0), (1.0, 0.0005), (2.0, 0.0)]
    assert douglas_peucker(line, 0.001) == [(0.0, 0.0), (2.0, 0.0)]
    bent = [(0.0, 0.0), (1.0, 0.002), (2.0, 0.0)]
    assert douglas_peucker(bent, 0.001) == bent


def test_an_islet_below_the_tolerance_goes_but_a_unit_never_vanishes() -> None:
    (first, second) = parse_geojson(district_grid(["070", "071"]), AFTER_REFORM)
    assert first.geometry["type"] == "Polygon"  # the islet of 070 was dropped
    assert first.points < first.source_points / 20
    tiny = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "072"},
                "geometry": {"type": "Polygon", "coordinates": [square(105.1, 22.1, 0.0005)]},
            }
        ],
    }
    (only,) = parse_geojson(tiny, AFTER_REFORM)
    assert len(only.geometry["coordinates"][0]) >= 4  # smaller than the tolerance, still drawn
    assert second.level == "district"


def _feature(code: Any, geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def _bad_file() -> dict[str, Any]:
    good = {"type": "Polygon", "coordinates": [square(105.0, 22.0)]}
    open_ring = square(105.0, 22.0)[:-1]
    swapped = [[lat, lon] for lon, lat in square(105.0, 22.0)]
    return {
        "type": "FeatureCollection",
        "features": [
            _feature("070", good),  # 0: fine
            _feature(71, good),  # 1: a number that lost its leading zero
            _feature("999", good),  # 2: no such district
            _feature("070", good),  # 3: twice
            _feature("072", {"type": "Polygon", "coordinates": [swapped]}),  # 4: [lat, lon]
            _feature("073", {"type": "Polygon", "coordinates": [open_ring]}),  # 5: not closed
            _feature("074", {"type": "Point", "coordinates": [105.0, 22.0]}),  # 6
            {"type": "Feature", "geometry": good},  # 7: no code at all
        ],
    }


def test_a_bad_file_reports_every_problem_by_feature_and_field_in_both_languages() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_geojson(_bad_file(), AFTER_REFORM)
    error = caught.value
    assert "8" not in error.message  # counts problems, not features
    assert "nothing was stored" in error.message_en
    assert "chưa lưu gì" in error.message
    fields = [d.field for d in error.details]
    assert fields == [
        "features[1].properties.code",
        "features[2].properties.code",
        "features[3].properties.code",
        "features[4].geometry.coordinates[0][0]",
        "features[5].geometry.coordinates[0]",
        "features[6].geometry.type",
        "features[7].properties.code",
    ]
    reasons = {d.field: d.reason for d in error.details}
    assert all(" / " in r for r in reasons.values())  # Vietnamese / English
    assert '"08", not 71' in reasons["features[1].properties.code"]
    assert "no administrative unit 999" in reasons["features[2].properties.code"]
    assert "already given by features[0]" in reasons["features[3].properties.code"]
    assert "not swapped" in reasons["features[4].geometry.coordinates[0][0]"]
    assert "Point" in reasons["features[6].geometry.type"]


def test_units_are_checked_on_the_day_the_boundaries_become_valid() -> None:
    legacy_commune = {
        "type": "FeatureCollection",
        "features": [
            _feature("00001", {"type": "Polygon", "coordinates": [square(105.8, 21.05, 0.01)]})
        ],
    }
    # Phúc Xá (00001) was merged away by the reform: known before it, unknown after.
    with pytest.raises(InvalidInput, match="problems"):
        parse_geojson(legacy_commune, AFTER_REFORM)
    (commune,) = parse_geojson(legacy_commune, LEGACY_DAY)
    assert commune.valid_to == date(2025, 6, 30)  # a boundary never outlives its unit
    # A former district still aggregates after the reform: its boundary stays open.
    (district,) = parse_geojson(district_grid(["071"]), AFTER_REFORM)
    assert district.valid_to is None


# --- the CLI on a real database ------------------------------------------------------------


def _geo(*args: str) -> subprocess.CompletedProcess[str]:
    """``ioc geo *args``."""
    return run_ioc("geo", *args)


async def _rows(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            t = unit_geometries.c
            found = await conn.execute(
                sa.select(
                    t.unit_code, t.valid_from, t.valid_to, t.source_points, t.points
                ).order_by(t.unit_code, t.valid_from)
            )
            return [dict(r._mapping) for r in found]
    finally:
        await engine.dispose()


@pytest.mark.connected
def test_ioc_geo_import_refuses_a_bad_file_whole_and_versions_a_good_one(
    fresh_database_url: str, tmp_path: Path
) -> None:
    db = ("--database-url", fresh_database_url)
    bad = _geo("import", str(write(tmp_path / "bad.geojson", _bad_file())), *db)
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stderr
    assert "features[2].properties.code:" in bad.stderr
    assert "nothing was stored" in bad.stderr
    assert "chưa lưu gì" in bad.stderr
    assert asyncio.run(_rows(fresh_database_url)) == []  # feature 0 was fine, still not stored

    garbled = tmp_path / "garbled.geojson"
    garbled.write_text('{"type": "FeatureCollection",', encoding="utf-8")
    broken = _geo("import", str(garbled), *db)
    assert broken.returncode == 2
    assert "is not JSON (line 1" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1

    good = write(tmp_path / "tuyen-quang.geojson", district_grid(["070", "071", "072"]))
    done = _geo("import", str(good), "--valid-from", "2025-07-01", *db)
    assert done.returncode == 0, done.stderr
    assert "imported 3" in done.stdout
    renamed = district_grid(["071"])
    renamed["features"][0]["properties"] = {"ma_huyen": "071"}
    later = _geo(
        "import",
        str(write(tmp_path / "lam-binh-2026.geojson", renamed)),
        "--valid-from",
        "2026-01-01",
        "--code-field",
        "ma_huyen",
        *db,
    )
    assert later.returncode == 0, later.stderr

    rows = asyncio.run(_rows(fresh_database_url))
    by_code = {(r["unit_code"], r["valid_from"]): r for r in rows}
    assert set(by_code) == {
        ("070", AFTER_REFORM),
        ("071", AFTER_REFORM),
        ("071", date(2026, 1, 1)),
        ("072", AFTER_REFORM),
    }
    # The older 071 is closed the day before the newer begins; the others stay open.
    assert by_code["071", AFTER_REFORM]["valid_to"] == date(2025, 12, 31)
    assert by_code["071", date(2026, 1, 1)]["valid_to"] is None
    assert all(r["points"] < r["source_points"] for r in rows)

    listed = _geo("list", "--date", "2025-12-31", "--json", *db)
    assert listed.returncode == 0, listed.stderr
    assert [(r["unit_code"], r["valid_from"]) for r in json.loads(listed.stdout)] == [
        ("070", "2025-07-01"),
        ("071", "2025-07-01"),
        ("072", "2025-07-01"),
    ]

    async def audited() -> list[str]:
        engine = create_engine(fresh_database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                found = await conn.execute(
                    sa.select(audit_log.c.target).where(audit_log.c.action == "geo.import")
                )
                return [r[0] for r in found]
        finally:
            await engine.dispose()

    assert asyncio.run(audited()) == ["tuyen-quang.geojson", "lam-binh-2026.geojson"]


# --- the API -------------------------------------------------------------------------------


@pytest.mark.connected
async def test_geo_api_serves_the_boundaries_of_the_operators_own_units(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url, pool_size=1)
    try:
        items = parse_geojson(district_grid(["070", "071", "029"]), AFTER_REFORM)
        await GeoStore(session_factory(engine)).import_(
            items, AFTER_REFORM, source="test.geojson", actor="test"
        )
    finally:
        await engine.dispose()

    async with gateway_harness(fresh_database_url) as g:
        province = await g.client(await g.user("tinh", "viewer", "08"))
        district = await g.client(await g.user("huyen", "viewer", "071"))
        async with province, district:
            r = await province.get("/v1/geo", params={"level": "district", "date": "2026-12-01"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["type"] == "FeatureCollection"
            # Tuyên Quang's seven former districts and Hà Giang's eleven, three with a shape.
            assert len(body["units"]) == 18
            assert [f["id"] for f in body["features"]] == ["029", "070", "071"]
            assert set(body["missing"]) == {u["code"] for u in body["units"]} - {
                "029",
                "070",
                "071",
            }
            assert body["features"][2]["properties"]["name"] == "Huyện Lâm Bình"
            assert body["features"][2]["geometry"]["type"] == "Polygon"

            own = (await district.get("/v1/geo")).json()
            assert [u["code"] for u in own["units"]] == ["071"]
            assert [f["id"] for f in own["features"]] == ["071"]

            # Before the boundaries were valid: the units (then legacy) without shapes.
            old = (await province.get("/v1/geo", params={"date": "2024-06-01"})).json()
            assert old["features"] == []
            assert len(old["units"]) == 18

            communes = (await district.get("/v1/geo", params={"level": "commune"})).json()
            assert len(communes["units"]) == 4
            assert communes["features"] == []

            refused = await province.get("/v1/geo", params={"level": "province"})
            assert refused.status_code == 422
        async with httpx.AsyncClient(base_url=g.url) as anonymous:
            assert (await anonymous.get("/v1/geo")).status_code == 401
