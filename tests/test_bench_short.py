"""The benchmark harness keeps working: its short mode runs every measurement on the real
broker and database and writes each figure beside its baseline. How fast is not checked here
(figures go to the results file, never into an assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
RATIO_FIGURES = (
    "ingest_batch_vs_raw_producer",
    "single_event_vs_minimal_starlette",
    "validation_cost",
    "metrics_vs_raw_consume",
    "metrics_vs_minimal_exactly_once",
    "metrics_scaling_1_to_2",
)


@pytest.mark.timeout(900)
def test_short_benchmark_writes_every_figure_with_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "short.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--short", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in range(1, 8):
        assert f"[{step}/7]" in done.stdout  # progress is printed

    results = json.loads(out.read_text())
    assert results["mode"] == "short"
    assert results["machine"]["cpus"] >= 1
    assert results["machine"]["versions"]["aiokafka"] != "?"
    figures = results["figures"]
    for name in RATIO_FIGURES:
        figure = figures[name]
        assert figure["value"] > 0, name
        assert figure["baseline"] > 0, name
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"], rel=1e-2)
        assert figure["baseline_label"], name
    ingest = figures["ingest_batch_vs_raw_producer"]
    assert ingest["order"].startswith("interleaved")
    assert ingest["ingest_cpu_us_per_event"] > 0
    for name in ("latency_to_live_feed", "latency_to_webhook"):
        figure = figures[name]
        assert {"p50_ms", "p95_ms", "p99_ms", "missed", "probes"} <= set(figure), name
        assert figure["probes"] >= 1, name
        assert figure["baseline"]["p50_ms"] > 0, name  # the raw Kafka hop
    memory = figures["memory"]
    assert set(memory["services"]) == {"ingest", "metrics", "alerts", "gateway"}
    for name, service in memory["services"].items():
        assert service["rest_mb"] > 0, name
        assert service["load_max_mb"] > 0, name
        assert service["series"], name
    assert memory["baseline"] > 0
    lag = figures["consumer_lag"]["services"]
    assert set(lag) == {"metrics", "alerts"}
    for name, consumer in lag.items():
        assert consumer["series"], name
        assert all(v >= 0 for _, v in consumer["series"]), name
    assert figures["latency_to_live_feed"]["timeline_ms"], "each probe's latency over time"

    table = out.with_suffix(".md").read_text()
    assert table.count("\n| ") >= 1 + len(RATIO_FIGURES) + 2 + 1 + 4
    for plot in ("throughput", "latency", "memory", "lag"):
        png = out.with_name(f"short-{plot}.png")
        assert png.read_bytes().startswith(b"\x89PNG"), plot
