"""The results as JSON, a Markdown table and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

RATIOS = (
    "ingest_batch_vs_raw_producer",
    "single_event_vs_minimal_starlette",
    "validation_cost",
    "metrics_vs_raw_consume",
    "metrics_vs_minimal_exactly_once",
    "metrics_scaling_1_to_2",
)
LATENCIES = ("latency_to_live_feed", "latency_to_webhook")


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    f = results["figures"]
    lines = [
        f"Mode **{results['mode']}**, {results['when']}, {results['machine']['cpus']} CPUs, "
        f"{results['machine']['memory_gb']} GB, Python {results['machine']['python']}; "
        f"{results['duration_s']:.0f} s.",
    ]
    if "live_rerun" in results:
        rerun = results["live_rerun"]
        lines.append(
            f"Measurements 5–6 re-run with `--live-only` at {rerun['when']} "
            f"({rerun['duration_s']:.0f} s)."
        )
    lines += [
        "",
        "| # | figure | value | baseline (same run) | ratio | goal |",
        "|---|---|---:|---:|---:|---|",
    ]
    for n, name in enumerate(RATIOS[:4], 1):
        x = f[name]
        goal = f"≥ {x['goal_ratio_at_least']}" if x["goal_ratio_at_least"] else "–"
        lines.append(
            f"| {n} | {x['title']} | {_n(x['value'])} {x['unit']} | {_n(x['baseline'])} "
            f"({x['baseline_label']}) | **{_n(x['ratio'], 3)}** | {goal} |"
        )
    if (x := f.get("metrics_vs_minimal_exactly_once")) is not None:
        lines.append(
            f"| 4b | {x['title']} | {_n(x['value'])} {x['unit']} | {_n(x['baseline'])} "
            f"({x['baseline_label']}) | **{_n(x['ratio'], 3)}** | – |"
        )
    for name in LATENCIES:
        x = f[name]
        b = x["baseline"]
        lines.append(
            f"| 5 | {x['title']} at {_n(x['steady_rate_events_per_s'])} events/s "
            f"({x.get('rate_rule', '')}; the whole pipeline sustained "
            f"{_n(x.get('pipeline_capacity_events_per_s'))} events/s on these cores; "
            f"{x['probes']} probes, {x['missed']} missed) | "
            f"p50 {_n(x['p50_ms'])} / "
            f"p95 {_n(x['p95_ms'])} / p99 {_n(x['p99_ms'])} ms | p50 {_n(b['p50_ms'], 1)} / "
            f"p99 {_n(b['p99_ms'], 1)} ms ({x['baseline_label']}) | – | "
            f"p99 < {x['goal_p99_ms']} ms |"
        )
    if (lag := f.get("consumer_lag")) is not None:
        behind = ", ".join(
            f"{name} max {_n(s['max_records'])} / last {_n(s['last_records'])}"
            for name, s in lag["services"].items()
        )
        lines.append(
            f"| 5 | {lag['title']} over {lag['seconds']:.0f} s | {behind} records | – | – "
            "| nothing falls behind |"
        )
    m = f["memory"]
    for name, s in m["services"].items():
        lines.append(
            f"| 6 | RSS of {name}: at rest / max under load / growth over {m['seconds']:.0f} s "
            f"| {_n(s['rest_mb'])} / {_n(s['load_max_mb'])} / {_n(s['growth_mb'], 1)} MB "
            f"| {_n(m['baseline'])} MB ({m['baseline_label']}) | – | ≤ {m['goal_max_mb']} MB, "
            "no growth |"
        )
    x = f["metrics_scaling_1_to_2"]
    lines.append(
        f"| 7 | {x['title']} | {_n(x['value'])} {x['unit']} | {_n(x['baseline'])} "
        f"({x['baseline_label']}) | **{_n(x['ratio'], 2)}** | – |"
    )
    return "\n".join(lines) + "\n"


def _save(fig: Any, stem: Path, name: str) -> Path:
    """Write a finished figure beside ``stem`` as ``<stem>-<name>.png``, and close it."""
    fig.tight_layout()
    path = stem.with_name(f"{stem.name}-{name}.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plots(results: dict[str, Any], stem: Path) -> list[Path]:
    f = results["figures"]
    out: list[Path] = []

    fig, axes = plt.subplots(1, len(RATIOS), figsize=(4 * len(RATIOS), 4))
    for ax, name in zip(axes, RATIOS, strict=True):
        x = f[name]
        ax.bar(["measured", "baseline"], [x["value"], x["baseline"]], color=["#c0392b", "#7f8c8d"])
        ax.set_title(f"{name}\nratio {x['ratio']}", fontsize=8)
        ax.set_ylabel(x["unit"])
        ax.set_yscale("log")
    out.append(_save(fig, stem, "throughput"))

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = ["p50", "p95", "p99"]
    for i, name in enumerate(LATENCIES):
        x = f[name]
        ax.bar([j + i * 0.27 for j in range(3)], [x[f"{p}_ms"] or 0 for p in labels], 0.27,
               label=name)  # fmt: skip
    b = f[LATENCIES[0]]["baseline"]
    ax.bar([j + 0.54 for j in range(3)], [b[f"{p}_ms"] or 0 for p in labels], 0.27,
           label="raw Kafka hop")  # fmt: skip
    ax.set_xticks([j + 0.27 for j in range(3)], labels)
    ax.set_ylabel("ms")
    ax.legend(fontsize=8)
    ax.set_title("End-to-end latency at the steady rate")
    out.append(_save(fig, stem, "latency"))

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, s in f["memory"]["services"].items():
        ax.plot([t for t, _ in s["series"]], [v for _, v in s["series"]], label=name)
    ax.axhline(f["memory"]["goal_max_mb"], color="red", linestyle="--", label="goal")
    ax.set_xlabel("s under load")
    ax.set_ylabel("RSS (MB)")
    ax.legend(fontsize=8)
    ax.set_title("Resident memory under the steady load")
    out.append(_save(fig, stem, "memory"))

    if (lag := f.get("consumer_lag")) is not None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        for name, s in lag["services"].items():
            left.plot([t for t, _ in s["series"]], [v for _, v in s["series"]], label=name)
        left.set_xlabel("s under load")
        left.set_ylabel("records behind")
        left.legend(fontsize=8)
        left.set_title("Consumer lag (falling behind would climb)")
        for name in LATENCIES:
            series = f[name].get("timeline_ms", [])
            right.plot([t for t, _ in series], [v for _, v in series], ".", ms=3, label=name)
            right.axhline(f[name]["goal_p99_ms"], linestyle="--", linewidth=0.8)
        right.set_yscale("log")
        right.set_xlabel("s under load")
        right.set_ylabel("ms")
        right.legend(fontsize=8)
        right.set_title("Each probe's latency over the run (dashed: p99 goals)")
        out.append(_save(fig, stem, "lag"))
    return out


BEGIN = "<!-- bench:latest:begin -->"
END = "<!-- bench:latest:end -->"


def write(results: dict[str, Any], json_path: Path, docs: Path | None) -> list[Path]:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    table = markdown(results)
    md = json_path.with_suffix(".md")
    md.write_text(table)
    written = [json_path, md, *plots(results, json_path.with_suffix(""))]
    if docs is not None and docs.exists():
        text = docs.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            docs.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
            written.append(docs)
    return written
