"""Measurements 1–3 alone (ingest against its raw baselines); the whole set is
``python -m bench``. ``python -m bench.ingest_vs_producer [--short] [--runs N] [--singles N]
[--out FILE]`` writes ``bench/results/ingest.json`` (or FILE)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import ingest
from bench.stack import Stack, machine, say
from ioc_common.timeutil import utc_now

RESULTS = Path(__file__).parent / "results" / "ingest.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--runs", type=int, help="timed runs of each figure (default 5, short 1)")
    parser.add_argument("--singles", type=int, help="single-event requests per run")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args()
    stack = Stack.start()
    try:
        figures, _ = ingest.run(stack, short=args.short, runs=args.runs, singles=args.singles)
    finally:
        stack.destroy()
    out = {"when": utc_now().isoformat(timespec="seconds"), "machine": machine(), **figures}
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    for f in figures.values():
        say(f"{f['title']}: {f['value']:,.0f} vs {f['baseline']:,.0f} = {f['ratio']}")
    say(f"written {args.out}")


if __name__ == "__main__":
    main()
