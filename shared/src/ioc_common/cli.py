"""The ``ioc`` command. Core sub-commands live here; each service adds its own through the
``ioc.commands`` entry-point group (a ``register(subparsers)`` function), so this module never
imports a service."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _cmd_dev(args: argparse.Namespace) -> int:
    from ioc_common.dev import DevOptions, run_dev

    return run_dev(
        DevOptions(
            data_dir=Path(args.data_dir) if args.data_dir else None,
            simulate=not args.no_simulate,
            base_port=args.base_port,
        )
    )


def _cmd_migrate(args: argparse.Namespace) -> int:
    from ioc_common.cli_support import database_address, database_failure
    from ioc_common.db.migrate import upgrade
    from ioc_common.settings import ServiceSettings

    address = database_address(args.database_url, lambda: ServiceSettings().database_url)
    print(f"Áp dụng migration tới {args.revision} / migrating to {args.revision} ...")
    try:
        upgrade(address.url, args.revision)
    except Exception as exc:
        if (unreachable := database_failure(exc, address)) is not None:
            raise unreachable from None
        raise
    print("Xong / done")
    return 0


def _cmd_kafka(args: argparse.Namespace) -> int:
    """Run a local Apache Kafka in the foreground (for trying the services against the real one)."""
    import time

    from ioc_common.infra.kafka_local import LocalKafka
    from ioc_common.kafka.admin import ensure_topics, wait_for_broker
    from ioc_common.topics import ALL_TOPICS

    broker = LocalKafka().start()
    asyncio.run(wait_for_broker(broker.bootstrap))
    asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS))
    print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}  (Ctrl-C để dừng / to stop)", flush=True)
    try:
        while broker.proc is not None and broker.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.destroy()
    return 0


def _cmd_secrets(args: argparse.Namespace) -> int:
    from ioc_common.secrets import generate_env

    sys.stdout.write(generate_env())
    return 0


def _cmd_asyncapi(args: argparse.Namespace) -> int:
    from ioc_common.asyncapi import write_asyncapi

    path = write_asyncapi(Path(args.output))
    print(f"wrote {path}")
    return 0


def _cmd_units_show(args: argparse.Namespace) -> int:
    """A code before and after the 2025 reform, from the packaged reference data (no database,
    no network)."""
    import json

    from ioc_common.reference.units import UnitLink, UnknownUnitError, unit_history

    try:
        history = unit_history(args.code)
    except UnknownUnitError:
        print(
            f"không có đơn vị hành chính mã {args.code} / no administrative unit {args.code}",
            file=sys.stderr,
        )
        return 1

    def link(u: UnitLink) -> dict[str, object]:
        return {"code": u.code, "name": u.name, "level": u.level.value, "is_split": u.is_split}

    versions = [
        {
            "name": v.unit.name,
            "level": v.unit.level.value,
            "valid_from": v.unit.valid_from.isoformat(),
            "valid_to": v.unit.valid_to.isoformat() if v.unit.valid_to else None,
            "parent": link(v.parent) if v.parent else None,
            "successors": [link(u) for u in v.successors],
            "predecessors": [link(u) for u in v.predecessors],
            "former_district": v.former_district,
            "former_district_code": v.unit.former_district_code,
        }
        for v in history.versions
    ]
    if args.json:
        out = {"code": history.code, "versions": versions, "reused": history.reused}
        out |= {"warning_vi": history.warning_vi, "warning_en": history.warning_en}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0

    def listed(links: tuple[UnitLink, ...]) -> str:
        return ", ".join(
            f"{u.code} {u.name}{' (một phần / part)' if u.is_split else ''}" for u in links
        )

    for v in history.versions:
        until = f"{v.unit.valid_to:%d/%m/%Y}" if v.unit.valid_to else "nay / now"
        print(f"{history.code}  {v.unit.name}  [{v.unit.level.value}]")
        print(f"  hiệu lực / valid: {v.unit.valid_from:%d/%m/%Y} – {until}")
        if v.parent is not None:
            print(f"  thuộc / parent: {v.parent.code} {v.parent.name}")
        if v.unit.former_district_code:
            print(f"  huyện cũ / former district: {v.unit.former_district_code}")
        if v.successors:
            print(f"  thành / became: {listed(v.successors)}")
        if v.former_district:
            print("  vẫn tổng hợp theo huyện cũ / still aggregated as a former district")
        if v.predecessors:
            print(f"  lập từ / made of: {listed(v.predecessors)}")
    if history.warning_vi:
        print(f"! {history.warning_vi}\n! {history.warning_en}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ioc_common.cli_support import add_command_group

    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Nền tảng IOC chuyển đổi số / IOC digital-transformation platform",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="chạy toàn bộ hệ thống cục bộ / run everything locally")
    dev.add_argument(
        "--data-dir",
        help="keep PostgreSQL data, the logs, the ports and the admin login here between runs "
        "(default: a temporary directory, removed on exit)",
    )
    dev.add_argument("--no-simulate", action="store_true", help="do not start the simulator")
    dev.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="first service port (default: the previous run's ports, else 8000)",
    )
    dev.set_defaults(func=_cmd_dev)

    mig = sub.add_parser("migrate", help="áp dụng migration / apply database migrations")
    mig.add_argument(
        "--database-url", help="default: $DATABASE_URL, else the running `ioc dev`'s database"
    )
    mig.add_argument("--revision", default="head")
    mig.set_defaults(func=_cmd_migrate)

    kafka = sub.add_parser("kafka", help="run a local Apache Kafka broker (needs Java, Maven)")
    kafka.set_defaults(func=_cmd_kafka)

    spec = sub.add_parser("asyncapi", help="write the AsyncAPI document of the topics")
    spec.add_argument("--output", default="docs/asyncapi.json")
    spec.set_defaults(func=_cmd_asyncapi)

    secrets_sub = add_command_group(
        sub, "secrets", "bí mật mạnh cho .env / strong secrets for a deployment's .env"
    )
    generate = secrets_sub.add_parser(
        "generate", help="in NAME=value cho mọi bí mật / print NAME=value for every secret"
    )
    generate.set_defaults(func=_cmd_secrets)

    units_sub = add_command_group(
        sub, "units", "đơn vị hành chính qua cải cách 2025 / units across the 2025 reform"
    )
    show = units_sub.add_parser(
        "show", help="tên, hiệu lực, đơn vị kế thừa / name, validity, successors or predecessors"
    )
    show.add_argument("code", help="mã tỉnh, huyện hoặc xã / province, district or commune code")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_cmd_units_show)

    for ep in sorted(entry_points(group="ioc.commands"), key=lambda e: e.name):
        register: Register = ep.load()
        register(sub)
    return parser


#: The exit code of a command that could not reach the database, the broker or a service.
EXIT_UNREACHABLE = 3


def main(argv: Sequence[str] | None = None) -> int:
    from ioc_common.cli_support import failure_line

    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except Exception as exc:
        # Every command: a missing database, broker or service is one line with the fix,
        # not a traceback; any other error keeps its traceback (it is a bug).
        line = failure_line(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_UNREACHABLE
    return code


if __name__ == "__main__":
    sys.exit(main())
