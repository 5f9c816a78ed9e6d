"""``ioc keys create|list|revoke|rotate`` for admins and ``ioc push`` for departments.

ioc keys create --provider so-tttt-tq --family bts --unit 071
ioc push events.json --url http://127.0.0.1:8000 --key ioc_xxxxxxxx_...
ioc push bts.csv --family bts --url ... --key ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from ioc_common.cli_support import (
    Address,
    add_command_group,
    add_database_url_arg,
    cli_actor,
    database_address,
    http_failure,
    print_listing,
    resolve_address,
    run_with_database,
    store_command,
)
from ioc_common.events import Family
from ioc_common.reference.units import LAST_LEGACY_DAY, unit_tree
from ioc_common.timeutil import vietnam_today

if TYPE_CHECKING:
    from ioc_ingest.keys import PgKeyStore

#: Events per request when pushing a JSON list (the server's default maximum).
PUSH_BATCH = 5_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys_sub = add_command_group(sub, "keys", "quản lý khóa API / manage ingest API keys")

    create = keys_sub.add_parser("create", help="tạo khóa (in ra MỘT lần) / create a key")
    create.add_argument("--provider", required=True, help="data provider id, e.g. so-tttt-tq")
    create.add_argument(
        "--family",
        action="append",
        required=True,
        choices=[f.value for f in Family],
        help="a family the key may write (repeat for several)",
    )
    create.add_argument(
        "--indicator", action="append", default=[], help="limit observation events to these"
    )
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--unit", action="append", help="a unit code the key may write, with everything under it"
    )
    scope.add_argument(
        "--all-units", action="store_true", help="every unit (province-wide admin keys only)"
    )
    create.add_argument("--label", default="", help="a note, e.g. who holds the key")
    add_database_url_arg(create)
    create.set_defaults(func=_cmd_create)

    lst = keys_sub.add_parser("list", help="liệt kê khóa (không in bí mật) / list keys")
    lst.add_argument("--all", action="store_true", help="include revoked keys")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_url_arg(lst)
    lst.set_defaults(func=_cmd_list)

    revoke = keys_sub.add_parser("revoke", help="thu hồi khóa / revoke a key")
    revoke.add_argument("prefix", help="the key's prefix (the 8 characters after ioc_)")
    add_database_url_arg(revoke)
    revoke.set_defaults(func=_cmd_revoke)

    rotate = keys_sub.add_parser("rotate", help="cấp bí mật mới, thu hồi khóa cũ / rotate")
    rotate.add_argument("prefix")
    add_database_url_arg(rotate)
    rotate.set_defaults(func=_cmd_rotate)

    push = sub.add_parser("push", help="gửi tệp JSON hoặc CSV tới ingest / push a file")
    push.add_argument("file", help="a .json file (one event or a list) or a .csv file")
    push.add_argument(
        "--url",
        help="ingest base URL (default: $IOC_INGEST_URL, else the running `ioc dev`'s ingest, "
        "else http://127.0.0.1:8000)",
    )
    push.add_argument(
        "--key", default=os.environ.get("IOC_API_KEY"), help="API key (default: $IOC_API_KEY)"
    )
    push.add_argument("--family", choices=[f.value for f in Family], help="for a CSV file")
    push.add_argument("--batch-size", type=int, default=PUSH_BATCH)
    push.set_defaults(func=_cmd_push)


def _run_with_store(url: str | None, action: Callable[[PgKeyStore], Awaitable[int]]) -> int:
    from ioc_ingest.config import IngestSettings
    from ioc_ingest.keys import PgKeyStore

    return run_with_database(
        database_address(url, lambda: IngestSettings().database_url), PgKeyStore, action
    )


def _check_units(units: Sequence[str]) -> list[str]:
    """Codes that exist neither before nor after the 2025 reform."""
    tree = unit_tree()
    today = vietnam_today()
    return [u for u in units if tree.get(u, LAST_LEGACY_DAY) is None and tree.get(u, today) is None]


def _cmd_create(args: argparse.Namespace) -> int:
    unknown = _check_units(args.unit or [])
    if unknown:
        print(f"lỗi / error: unknown unit code(s): {', '.join(unknown)}", file=sys.stderr)
        return 2

    async def action(store: PgKeyStore) -> int:
        key, raw = await store.create(
            provider=args.provider,
            families=sorted(set(args.family)),
            indicators=sorted(set(args.indicator)),
            units=sorted(set(args.unit or [])),
            all_units=args.all_units,
            label=args.label,
            actor=cli_actor(),
        )
        return _shown_once(
            raw,
            f"# khóa {key.prefix} cho {key.provider}; chỉ hiện MỘT lần, hãy lưu lại ngay / "
            f"key {key.prefix} for {key.provider}; shown ONCE, store it now",
        )

    return _run_with_store(args.database_url, action)


def _shown_once(raw: str, note: str) -> int:
    """A new key on stdout (the only time it is shown) and the note about it on stderr."""
    print(raw)
    print(note, file=sys.stderr)
    return 0


def _key_line(r: dict[str, Any]) -> str:
    return (
        f"{r['prefix']:<10} {r['provider']:<20} {','.join(r['families']):<30} "
        f"{','.join(r['units']):<20} {r['revoked_at'] or '-'}"
    )


def _cmd_list(args: argparse.Namespace) -> int:
    async def action(store: PgKeyStore) -> int:
        keys = await store.list(include_revoked=args.all)
        rows: list[dict[str, Any]] = [
            {
                "prefix": k.prefix,
                "provider": k.provider,
                "families": list(k.families),
                "indicators": list(k.indicators),
                "units": ["*"] if k.all_units else list(k.units),
                "label": k.label,
                "created_at": k.created_at.isoformat() if k.created_at else None,
                "created_by": k.created_by,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ]
        header = f"{'prefix':<10} {'provider':<20} {'families':<30} {'units':<20} revoked"
        return print_listing(rows, args.json, _key_line, header=header, indent=2)

    return _run_with_store(args.database_url, action)


async def _revoke(store: PgKeyStore, args: argparse.Namespace) -> str:
    key = await store.revoke(args.prefix, actor=cli_actor())
    return f"đã thu hồi / revoked {key.prefix} ({key.provider})"


_cmd_revoke = store_command(_run_with_store, _revoke)


def _cmd_rotate(args: argparse.Namespace) -> int:
    async def action(store: PgKeyStore) -> int:
        key, raw = await store.rotate(args.prefix, actor=cli_actor())
        return _shown_once(
            raw,
            f"# khóa mới {key.prefix} thay {args.prefix} (đã thu hồi); chỉ hiện MỘT lần / "
            f"new key {key.prefix} replaces {args.prefix} (revoked); shown ONCE",
        )

    return _run_with_store(args.database_url, action)


# --- ioc push ---------------------------------------------------------------------------------


def push_file(
    path: Path,
    *,
    url: str,
    key: str,
    family: str | None = None,
    batch_size: int = PUSH_BATCH,
    client: httpx.Client | None = None,
    out: TextIO = sys.stdout,
    address: Address | None = None,
) -> int:
    """Send a file; print one line per item; 0 when nothing was rejected, 3 when ingest
    did not answer (one line saying where it was looked for and the fix)."""
    own = client is None
    http = client or httpx.Client(base_url=url, timeout=120)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        if path.suffix.lower() == ".csv":
            if family is None:
                print("lỗi / error: --family is required for a CSV file", file=sys.stderr)
                return 2
            response = http.post(
                "/v1/uploads",
                params={"family": family},
                files={"file": (path.name, path.read_bytes(), "text/csv")},
                headers=headers,
            )
            return _report_batch(response, out, label="row")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            print(f"lỗi / error: {path} is not a JSON file ({exc})", file=sys.stderr)
            return 2
        if isinstance(data, dict) and "events" not in data:
            response = http.post("/v1/events", json=data, headers=headers)
            return _report_single(response, out)
        events = data["events"] if isinstance(data, dict) else data
        worst = 0
        for start in range(0, len(events), batch_size):
            chunk = events[start : start + batch_size]
            response = http.post("/v1/events:batch", json={"events": chunk}, headers=headers)
            worst = max(worst, _report_batch(response, out, label="index", offset=start))
        return worst
    except httpx.TransportError as exc:
        print(
            http_failure(exc, address or Address(url, "option"), "--url", "IOC_INGEST_URL"),
            file=sys.stderr,
        )
        return 3
    finally:
        if own:
            http.close()


def _report_error(response: httpx.Response, out: TextIO) -> int:
    try:
        err = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        print(f"HTTP {response.status_code}: {response.text[:500]}", file=out)
        return 1
    print(f"HTTP {response.status_code} {err['code']}: {err['message_en']}", file=out)
    for d in err.get("details", []):
        print(f"  {d['field']}: {d['reason']}", file=out)
    if "retry-after" in response.headers:
        print(f"  retry after {response.headers['retry-after']} s", file=out)
    return 1


def _report_single(response: httpx.Response, out: TextIO) -> int:
    if response.status_code not in (200, 202):
        return _report_error(response, out)
    body = response.json()
    print(f"{body['status']} {body['event_id']}", file=out)
    return 0


def _report_batch(response: httpx.Response, out: TextIO, *, label: str, offset: int = 0) -> int:
    if response.status_code not in (200, 202):
        return _report_error(response, out)
    body = response.json()
    for r in body["results"]:
        where = r.get("row") if label == "row" else r["index"] + offset
        line = f"{label} {where}: {r['status']}"
        if r.get("event_id"):
            line += f" {r['event_id']}"
        print(line, file=out)
        for e in r.get("errors", []):
            print(f"    {e['field']}: {e['reason']}", file=out)
    print(
        f"accepted {body['accepted']}, duplicates {body['duplicates']}, "
        f"rejected {body['rejected']}",
        file=out,
    )
    return 1 if body["rejected"] else 0


def _cmd_push(args: argparse.Namespace) -> int:
    if not args.key:
        print("lỗi / error: give --key or set IOC_API_KEY", file=sys.stderr)
        return 2
    address = resolve_address(args.url, "IOC_INGEST_URL", "ingest", lambda: "http://127.0.0.1:8000")
    return push_file(
        Path(args.file),
        url=address.url,
        address=address,
        key=args.key,
        family=args.family,
        batch_size=args.batch_size,
    )
