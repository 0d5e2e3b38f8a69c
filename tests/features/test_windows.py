"""Windowed counters (features.windows): human-unit counts on event time, merge, late events.

A 7-day window uses daily buckets: an event counts as exactly 1 from its own time until the
end of the 7th day after the day it happened in, then 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from features import windows

DAY = 86400.0
WEEK = 7 * DAY
T0 = 20_000 * DAY  # the start of a daily bucket (2024-10-04T00:00Z)


def _row() -> np.ndarray:
    return np.zeros(3 + windows.WIDTH)  # a counter at slot 3, like a state row's


def _count(row: np.ndarray, now: float) -> float:
    return windows.count(row, 3, WEEK, now)


def test_one_event_counts_exactly_one_for_its_whole_window_then_zero():
    row = _row()
    windows.add(row, 3, WEEK, T0 + 10 * 3600)  # 10:00 on day 0
    assert _count(row, T0 + 10 * 3600) == 1.0
    for days in (1, 3, 6, 7):
        assert _count(row, T0 + days * DAY) == 1.0
    assert _count(row, T0 + 8 * DAY - 1) == 1.0  # the window plus the rest of its bucket
    assert _count(row, T0 + 8 * DAY) == 0.0
    assert _count(row, T0 + 400 * DAY) == 0.0


def test_counts_add_up_and_leave_one_by_one():
    row = _row()
    for day in (0, 2, 2, 5):
        windows.add(row, 3, WEEK, T0 + day * DAY + 60)
    assert _count(row, T0 + 5 * DAY + 120) == 4.0
    assert _count(row, T0 + 8 * DAY) == 3.0
    assert _count(row, T0 + 10 * DAY) == 1.0
    assert _count(row, T0 + 13 * DAY) == 0.0
    windows.add(row, 3, WEEK, T0 + 13 * DAY, amount=2.5)  # amounts, not just events
    assert _count(row, T0 + 13 * DAY) == 2.5


def test_a_query_before_an_event_does_not_see_it():
    row = _row()
    windows.add(row, 3, WEEK, T0 + 4 * DAY)
    assert _count(row, T0 + 2 * DAY) == 0.0
    assert _count(row, T0 + 4 * DAY) == 1.0


def test_late_events_count_in_their_own_bucket():
    row = _row()
    windows.add(row, 3, WEEK, T0 + 10 * DAY)
    windows.add(row, 3, WEEK, T0 + 4 * DAY)  # six days late: still inside the ring
    assert _count(row, T0 + 10 * DAY) == 2.0
    assert _count(row, T0 + 12 * DAY) == 1.0  # the late one left on its own schedule
    windows.add(row, 3, WEEK, T0 + 2 * DAY)  # eight days late: older than the ring
    assert _count(row, T0 + 10 * DAY) == 2.0 and row[4:].sum() == 2.0  # not counted


def test_a_long_gap_clears_the_ring():
    row = _row()
    for day in range(8):
        windows.add(row, 3, WEEK, T0 + day * DAY)
    assert _count(row, T0 + 7 * DAY) == 8.0
    windows.add(row, 3, WEEK, T0 + 30 * DAY)
    assert _count(row, T0 + 30 * DAY) == 1.0
    assert row[4:].sum() == 1.0  # nothing stale left in the ring


@pytest.mark.parametrize("swap", [False, True])
def test_merge_adds_two_counters_aligned_on_event_time(swap):
    a, b = _row(), _row()
    windows.add(a, 3, WEEK, T0)
    windows.add(a, 3, WEEK, T0 + 6 * DAY)
    windows.add(b, 3, WEEK, T0 + 3 * DAY)
    windows.add(b, 3, WEEK, T0 + 9 * DAY)
    dst, src = (b, a) if swap else (a, b)
    src_before = src.copy()
    windows.merge(dst, src, 3)
    assert (src == src_before).all()
    assert _count(dst, T0 + 9 * DAY) == 3.0  # day 0 left (ends at day 8); 3, 6, 9 remain
    assert _count(dst, T0 + 11 * DAY) == 2.0
    assert _count(dst, T0 + 14 * DAY) == 1.0
    assert _count(dst, T0 + 17 * DAY) == 0.0


def test_merge_drops_what_the_newer_ring_no_longer_holds():
    new, old = _row(), _row()
    windows.add(new, 3, WEEK, T0 + 20 * DAY)
    windows.add(old, 3, WEEK, T0)
    windows.merge(new, old, 3)
    assert _count(new, T0 + 20 * DAY) == 1.0
    fresh = _row()
    windows.merge(fresh, new, 3)  # into a counter that never counted
    assert _count(fresh, T0 + 20 * DAY) == 1.0
