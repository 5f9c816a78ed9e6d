"""``ioc metrics rebuild [--apply]`` — recompute every aggregate from the facts archive and
compare it with the live tables (``rebuild``); exit 0 when equal, 1 when they differ (the
first differences printed). ``--apply`` makes the live tables equal, with a new version and a
``MetricUpdated`` for each cell it changes.

ioc metrics rebuild
ioc metrics rebuild --apply --database-url postgresql+asyncpg://…
"""

from __future__ import annotations

import argparse
import asyncio

from ioc_common.cli_support import (
    add_command_group,
    add_database_url_arg,
    database_address,
    database_failure,
)

#: Differences printed; the count is always printed.
SHOWN = 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics_sub = add_command_group(sub, "metrics", "số liệu tổng hợp / the aggregates")
    rebuild = metrics_sub.add_parser(
        "rebuild",
        help="tính lại từ dữ kiện và so sánh / recompute from the facts and compare",
    )
    rebuild.add_argument(
        "--apply", action="store_true", help="sửa bảng đang chạy / make the live tables equal"
    )
    add_database_url_arg(rebuild)
    rebuild.set_defaults(func=_cmd_rebuild)


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from ioc_common.db import create_engine
    from ioc_metrics.config import MetricsSettings
    from ioc_metrics.rebuild import RebuildResult, rebuild

    address = database_address(args.database_url, lambda: MetricsSettings().database_url)

    async def run() -> RebuildResult:
        engine = create_engine(address.url, pool_size=1)
        try:
            return await rebuild(engine, apply=args.apply)
        except Exception as exc:
            if (unreachable := database_failure(exc, address)) is not None:
                raise unreachable from None
            raise
        finally:
            await engine.dispose()

    print("Đang tính lại từ dữ kiện / recomputing from the facts ...", flush=True)
    result = asyncio.run(run())
    print(
        f"{result.facts:,} dữ kiện, {result.cells:,} ô / facts, cells;"
        f" khác biệt / differences: {len(result.differences):,}"
    )
    for d in result.differences[:SHOWN]:
        print(f"  {d.line()}")
    if result.applied:
        print("Đã sửa bảng đang chạy / live tables made equal (MetricUpdated sent for each cell)")
        return 0
    if result.differences:
        print("Chạy lại với --apply để sửa / run again with --apply to make them equal")
        return 1
    return 0
