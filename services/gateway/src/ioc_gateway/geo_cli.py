"""``ioc geo import|list`` — the unit boundaries the dashboard's map draws (``ioc_gateway.geo``).

ioc geo import tuyen-quang-huyen.geojson                  # valid from the current tree's start
ioc geo import old-districts.geojson --valid-from 2020-01-01 --code-field ma_huyen
ioc geo list --date 2026-12-01

The file is checked whole before anything is stored: a bad file prints every problem, each
naming the feature and field, and exits 2 with nothing stored.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ioc_common.cli_support import (
    add_command_group,
    add_database_url_arg,
    cli_actor,
    database_address,
    print_error,
    print_listing,
    run_with_database,
)
from ioc_common.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ioc_gateway.geo import GeoStore


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: ngày dạng YYYY-MM-DD / a date as YYYY-MM-DD"
        ) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ioc_gateway.geo import DEFAULT_TOLERANCE

    geo_sub = add_command_group(sub, "geo", "ranh giới đơn vị cho bản đồ / unit boundaries (map)")

    imp = geo_sub.add_parser(
        "import", help="nạp GeoJSON theo mã đơn vị / load a GeoJSON keyed by unit code"
    )
    imp.add_argument("file", help="GeoJSON FeatureCollection, WGS 84 [lon, lat]")
    imp.add_argument(
        "--valid-from",
        type=_day,
        help="ranh giới có hiệu lực từ / valid from (default: the start of today's unit tree)",
    )
    imp.add_argument(
        "--code-field", default="code", help="thuộc tính chứa mã / property with the unit code"
    )
    imp.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"độ đơn giản hoá, độ / simplification in degrees ({DEFAULT_TOLERANCE})",
    )
    add_database_url_arg(imp)
    imp.set_defaults(func=_cmd_import)

    lst = geo_sub.add_parser("list", help="ranh giới đã nạp / stored boundaries")
    lst.add_argument("--date", type=_day, help="hiệu lực vào ngày / valid on (default: today)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_url_arg(lst)
    lst.set_defaults(func=_cmd_list)


def _run(url: str | None, action: Callable[[GeoStore], Awaitable[int]]) -> int:
    from ioc_gateway.config import GatewaySettings
    from ioc_gateway.geo import GeoStore

    # As every command: the option, else DATABASE_URL, else the running `ioc dev`'s state file.
    address = database_address(url, lambda: GatewaySettings().database_url)
    return run_with_database(address, GeoStore, action)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")  # files saved by Windows GIS tools carry a BOM
    except OSError as exc:
        raise InvalidInput(
            f"Không đọc được tệp {path}: {exc.strerror}", f"Cannot read {path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"Tệp {path} không phải UTF-8", f"{path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"Tệp {path} không phải JSON (dòng {exc.lineno}, cột {exc.colno}: {exc.msg})",
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
        ) from None


def _default_valid_from() -> date:
    from ioc_common.reference.units import REFORM_DATE
    from ioc_common.timeutil import vietnam_today

    # Today's unit tree began with the reform; boundaries of older units need --valid-from.
    today = vietnam_today()
    return REFORM_DATE if today >= REFORM_DATE else today


def _cmd_import(args: argparse.Namespace) -> int:
    from ioc_gateway.geo import parse_geojson

    path = Path(args.file)
    valid_from: date = args.valid_from or _default_valid_from()
    if not args.tolerance >= 0:
        print_error(InvalidInput("Độ đơn giản hoá phải ≥ 0", "The tolerance must be ≥ 0"))
        return 2
    # Validated whole before the database is even opened: a bad file stores nothing.
    try:
        items = parse_geojson(
            _read(path), valid_from, code_field=args.code_field, tolerance=args.tolerance
        )
    except InvalidInput as exc:
        print_error(exc)
        return 2

    async def action(store: GeoStore) -> int:
        count = await store.import_(items, valid_from, source=path.name, actor=cli_actor())
        before = sum(i.source_points for i in items)
        after = sum(i.points for i in items)
        print(
            f"đã nạp / imported {count} đơn vị / units, hiệu lực từ / valid from "
            f"{valid_from.isoformat()}; {before} → {after} điểm / points"
        )
        return 0

    return _run(args.database_url, action)


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['unit_code']:<6} {r['level']:<9} {r['valid_from']} – {r['valid_to'] or '…':<10} "
        f"{r['source_points']:>7} → {r['points']:<6} {r['source']}"
    )


def _cmd_list(args: argparse.Namespace) -> int:
    from ioc_common.timeutil import vietnam_today

    on: date = args.date or vietnam_today()

    async def action(store: GeoStore) -> int:
        rows = [
            r
            | {
                "valid_from": r["valid_from"].isoformat(),
                "valid_to": r["valid_to"].isoformat() if r["valid_to"] else None,
            }
            for r in await store.listing(on)
        ]
        return print_listing(rows, args.json, _line)

    return _run(args.database_url, action)
