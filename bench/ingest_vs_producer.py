"""Measurements 1–3 alone (ingest against its raw baselines); the whole set is
``python -m bench``. ``python -m bench.ingest_vs_producer [--short]`` writes
``bench/results/ingest.json``."""

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
    args = parser.parse_args()
    stack = Stack.start()
    try:
        figures, _ = ingest.run(stack, short=args.short)
    finally:
        stack.destroy()
    out = {"when": utc_now().isoformat(timespec="seconds"), "machine": machine(), **figures}
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    say(f"written {RESULTS}")


if __name__ == "__main__":
    main()
