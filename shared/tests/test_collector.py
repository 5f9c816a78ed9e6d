"""The collector tuning every batch-handling service calls (``ioc_common.collector``)."""

from __future__ import annotations

import gc

from ioc_common.collector import LARGE_BATCHES, YOUNG_THRESHOLD, tune_for_batches


def test_tuning_raises_the_thresholds_and_freezes_the_start_up_heap() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    # Tracked containers alive at the call: the freeze must take them.
    alive: list[list[int]] = [[] for _ in range(1_000)]
    try:
        tune_for_batches()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 10)
        # Grows at every call: an earlier test's freeze must not make this check pass.
        assert gc.get_freeze_count() >= frozen_before + len(alive)
    finally:
        gc.set_threshold(*before)


def test_a_service_of_large_batches_sets_its_own_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_for_batches(LARGE_BATCHES)
        assert gc.get_threshold() == (LARGE_BATCHES, 20, 10)
    finally:
        gc.set_threshold(*before)
