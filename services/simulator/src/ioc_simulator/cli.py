"""``ioc simulate``: fast-forward a province's history, then stream live increments."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta

from ioc_common.timeutil import vietnam_today
from ioc_simulator.generator import history, live_tick
from ioc_simulator.profile import ProvinceProfile
from ioc_simulator.pusher import IngestPusher


def _month(text: str) -> date:
    year, month = text.split("-")[:2]
    return date(int(year), int(month), 1)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="giả lập số liệu một tỉnh / simulate a province's data")
    p.add_argument(
        "--ingest-url", default=os.environ.get("IOC_INGEST_URL", "http://127.0.0.1:8000")
    )
    p.add_argument("--api-key", default=os.environ.get("IOC_SIMULATOR_API_KEY"), help="ingest key")
    p.add_argument("--province", default="08", help="province code (default 08, Tuyên Quang)")
    p.add_argument("--since", default=None, help="fast-forward from this month (YYYY-MM)")
    p.add_argument("--months", type=int, default=6, help="or this many past months (default 6)")
    p.add_argument("--rate", type=float, default=5.0, help="live events per second (0: none)")
    p.add_argument("--duration", type=float, default=0, help="live seconds (0: until Ctrl-C)")
    p.add_argument("--lagging", default="071,072", help="districts that lag their targets")
    p.add_argument("--silent", default="076", help="a district that stops reporting ('' none)")
    p.add_argument("--seed", type=int, default=2022)
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    if not args.api_key:
        print("cần khóa API / an ingest API key is needed: --api-key or IOC_SIMULATOR_API_KEY")
        return 2
    today = vietnam_today()
    start = (
        _month(args.since)
        if args.since
        else (today.replace(day=1) - timedelta(days=31 * args.months)).replace(day=1)
    )
    profile = ProvinceProfile(
        province=args.province,
        lagging=tuple(filter(None, args.lagging.split(","))),
        silent=args.silent or None,
        # The silent district's last report is the month before last, so it is overdue now.
        silent_from=(today.replace(day=1) - timedelta(days=1)).replace(day=1),
    )
    pusher = IngestPusher(args.ingest_url, args.api_key)
    try:
        span = f"{start:%Y-%m} → {today.replace(day=1) - timedelta(days=1):%Y-%m}"
        print(f"[simulate] tỉnh/province {args.province}: lịch sử/history {span}", flush=True)
        # Whole months only: a month's stock figures are dated its last day.
        last_month_end = today.replace(day=1) - timedelta(days=1)
        stats = pusher.push(history(profile, start, last_month_end, args.seed))
        print(
            f"[simulate] lịch sử xong / history done: {stats.accepted} accepted, "
            f"{stats.duplicates} duplicates, {stats.rejected} rejected",
            flush=True,
        )
        for error in stats.first_errors:
            print(f"[simulate]   rejected: {error}", flush=True)
        if args.rate <= 0:
            return 0 if stats.rejected == 0 else 1
        print(f"[simulate] trực tiếp / live: {args.rate:g} events/s", flush=True)
        started, tick = time.monotonic(), 0
        while args.duration <= 0 or time.monotonic() - started < args.duration:
            tick_started = time.monotonic()
            batch = live_tick(profile, vietnam_today(), tick, max(1, round(args.rate)), args.seed)
            pusher.push(batch)
            tick += 1
            if tick % 30 == 0:
                print(f"[simulate] live: {pusher.stats.accepted} accepted so far", flush=True)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick_started)))
    except KeyboardInterrupt:
        pass
    finally:
        pusher.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="ioc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *sys.argv[1:]])
    code: int = args.func(args)
    return code
