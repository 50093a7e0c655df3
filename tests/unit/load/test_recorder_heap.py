"""A load process freezes its start-up heap, so that the run's full collections skip it, and collects its
young generation less often."""

from __future__ import annotations

import gc

from harness.load.recorder import GC_THRESHOLD, settle_heap


def test_what_exists_at_start_up_leaves_the_collected_generations_and_later_objects_do_not() -> None:
    start_up = ["made at start-up"]  # a list: tracked by the collector
    threshold = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLD
        later = ["made during the run"]
        tracked = gc.get_objects()  # every generation the collector walks
        assert not any(o is start_up for o in tracked)
        assert any(o is later for o in tracked)
    finally:
        gc.unfreeze()  # the test process goes on as before
        gc.set_threshold(*threshold)
