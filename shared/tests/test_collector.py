"""The collector tuning every batch-handling service calls (``ioc_common.collector``)."""

from __future__ import annotations

import gc

from ioc_common.collector import YOUNG_THRESHOLD, tune_for_batches


def test_tuning_raises_the_thresholds_and_freezes_the_start_up_heap() -> None:
    before = gc.get_threshold()
    try:
        tune_for_batches()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 10)
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
