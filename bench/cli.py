"""``python -m bench [--short]``: every measurement of issue 8 in one run.

Starts its own Apache Kafka and PostgreSQL (as the tests do), runs the services as uvicorn
subprocesses, and writes ``bench/results/latest.json`` (``--short``: ``short.json``), a Markdown
table beside it, PNG plots, and (full runs) the table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import ingest, live, metrics
from bench.report import write
from bench.stack import Stack, machine, say
from ioc_common.timeutil import utc_now

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run(
    short: bool,
    out: Path,
    docs: Path | None,
    rate: float | None = None,
    soak_s: float | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    say(f"bench: {'short' if short else 'full'} run; starting Apache Kafka and PostgreSQL ...")
    stack = Stack.start()
    say(f"    Kafka {stack.bootstrap}, PostgreSQL port {stack.postgres.port}")
    try:
        figures, ingest_info = ingest.run(stack, short=short)
        metric_figures, metrics_info = metrics.run(stack, short=short)
        figures.update(metric_figures)
        capacity = min(ingest_info["capacity"], metrics_info["capacity"])
        figures.update(
            live.run(
                stack,
                short=short,
                capacity=capacity,
                minimal_rss_mb=ingest_info["rss_mb"]["minimal"],
                rate=rate,
                seconds=soak_s,
            )
        )
    finally:
        stack.destroy()
    results = {
        "mode": "short" if short else "full",
        "when": utc_now().isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine(),
        "figures": figures,
    }
    for path in write(results, out, docs):
        say(f"written {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return results


def rerun_live(out: Path, docs: Path | None, rate: float | None, soak_s: float | None) -> None:
    """Measurements 5 and 6 again, with the capacity of an earlier run's results file."""
    started = time.monotonic()
    results = json.loads(out.read_text())
    f = results["figures"]
    capacity = min(
        max(f["ingest_batch_vs_raw_producer"]["value_runs"]),
        max(f["metrics_vs_raw_consume"]["value_runs"]),
    )
    stack = Stack.start()
    try:
        f.update(
            live.run(
                stack,
                short=results["mode"] == "short",
                capacity=capacity,
                minimal_rss_mb=f["memory"]["baseline"],
                rate=rate,
                seconds=soak_s,
            )
        )
    finally:
        stack.destroy()
    results["live_rerun"] = {
        "when": utc_now().isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
    }
    for path in write(results, out, docs):
        say(f"written {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--short", action="store_true", help="small counts, 1 run each, 20 s soak (CI)"
    )
    parser.add_argument("--out", type=Path, help="results JSON (default: bench/results/…)")
    parser.add_argument(
        "--rate", type=float, help="steady rate in events/s (default: 60%% of the capacity)"
    )
    parser.add_argument(
        "--soak-seconds", type=float, help="length of the steady run (default 600, short 20)"
    )
    parser.add_argument(
        "--live-only",
        action="store_true",
        help="re-run measurements 5–6 only, into an existing results file",
    )
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("short.json" if args.short else "latest.json")
    docs = None if args.short else ROOT / "docs" / "benchmarks.md"
    if args.live_only:
        rerun_live(out, docs, args.rate, args.soak_seconds)
    else:
        run(args.short, out, docs, args.rate, args.soak_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
