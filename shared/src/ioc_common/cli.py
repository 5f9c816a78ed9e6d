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
    from ioc_common.db.migrate import upgrade
    from ioc_common.settings import ServiceSettings

    url = args.database_url or ServiceSettings().database_url
    print(f"Áp dụng migration tới {args.revision} / migrating to {args.revision} ...")
    upgrade(url, args.revision)
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


def _cmd_asyncapi(args: argparse.Namespace) -> int:
    from ioc_common.asyncapi import write_asyncapi

    path = write_asyncapi(Path(args.output))
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Nền tảng IOC chuyển đổi số / IOC digital-transformation platform",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="chạy toàn bộ hệ thống cục bộ / run everything locally")
    dev.add_argument("--data-dir", help="keep PostgreSQL data here between runs")
    dev.add_argument("--no-simulate", action="store_true", help="do not start the simulator")
    dev.add_argument("--base-port", type=int, default=8000, help="first service port (8000)")
    dev.set_defaults(func=_cmd_dev)

    mig = sub.add_parser("migrate", help="áp dụng migration / apply database migrations")
    mig.add_argument("--database-url", help="default: $DATABASE_URL")
    mig.add_argument("--revision", default="head")
    mig.set_defaults(func=_cmd_migrate)

    kafka = sub.add_parser("kafka", help="run a local Apache Kafka broker (needs Java, Maven)")
    kafka.set_defaults(func=_cmd_kafka)

    spec = sub.add_parser("asyncapi", help="write the AsyncAPI document of the topics")
    spec.add_argument("--output", default="docs/asyncapi.json")
    spec.set_defaults(func=_cmd_asyncapi)

    for ep in sorted(entry_points(group="ioc.commands"), key=lambda e: e.name):
        register: Register = ep.load()
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
