"""The planner's statistics are refreshed as the young tables double, then left to autovacuum."""

from __future__ import annotations

from ioc_metrics.processor import next_analysis


def schedule(batches: list[int]) -> list[int]:
    """The aggregated-event counts at which a refresh starts, for these batch sizes."""
    due, total, refreshed = 50, 0, []
    for events in batches:
        total += events
        after = next_analysis(total, due)
        if after is not None:
            refreshed.append(total)
            due = after
    return refreshed


def test_refreshes_each_time_the_events_doubled() -> None:
    assert schedule([30, 30, 40, 100, 200, 400]) == [60, 200, 400, 800]


def test_a_large_batch_does_not_leave_refreshes_owed() -> None:
    # One batch of 5,000 moves the next refresh to 10,000, not to 100.
    assert schedule([5_000, 10, 4_980, 10]) == [5_000, 10_000]


def test_no_refresh_once_the_tables_outgrew_the_young_stage() -> None:
    refreshed = schedule([5_000] * 12)
    assert refreshed == [5_000, 10_000]
    assert next_analysis(10**9, 30_000) is None
