"""A figure beside its baseline, measured in the same run."""

from __future__ import annotations

import statistics
from typing import Any


def ratio_figure(
    title: str,
    unit: str,
    runs: list[float],
    baseline_runs: list[float],
    baseline_label: str,
    goal: float | None,
    **extra: Any,
) -> dict[str, Any]:
    value = statistics.median(runs)
    baseline = statistics.median(baseline_runs)
    ratio = value / baseline if baseline else None
    return {
        "title": title,
        "unit": unit,
        "value": round(value, 2),
        "baseline": round(baseline, 2),
        "baseline_label": baseline_label,
        "ratio": round(ratio, 4) if ratio is not None else None,
        "goal_ratio_at_least": goal,
        "meets_goal": None if goal is None or ratio is None else ratio >= goal,
        "value_runs": [round(r, 2) for r in runs],
        "baseline_runs": [round(r, 2) for r in baseline_runs],
        **extra,
    }


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds (nearest rank), None when there are no samples."""
    if not samples:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1e3, 1)

    return {
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1e3, 1),
    }
