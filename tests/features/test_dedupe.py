"""What remembers message ids is bounded: the collector's `RecentIds` and the per-key
`KeyGuard` ring; many distinct ids cost no more memory than their bound."""

from __future__ import annotations

import tracemalloc

from features.dedupe import RecentIds
from features.guard import RING, KeyGuard


def _traced(ids: RecentIds, start: int, n: int) -> int:
    for i in range(start, start + n):
        ids.add(f"m-{i}", 1_000.0 + i * 1e-3)
    return tracemalloc.get_traced_memory()[0]


def test_recent_ids_stay_at_their_capacity_oldest_forgotten_first():
    ids = RecentIds(capacity=2_000)
    tracemalloc.start()
    try:
        at_capacity = _traced(ids, 0, 4_000)
        fifty_times_more = _traced(ids, 4_000, 196_000)
    finally:
        tracemalloc.stop()
    assert len(ids) == 2_000
    assert fifty_times_more < 1.1 * at_capacity
    now = 1_000.0 + 200_000 * 1e-3
    assert ids.seen("m-199999", now) and ids.seen("m-198000", now)
    assert not ids.seen("m-197999", now) and not ids.seen("m-0", now)


def test_recent_ids_forget_what_fell_out_of_the_window():
    ids = RecentIds(capacity=100, window=60.0)
    ids.add("old", 0.0)
    ids.add("new", 61.0)
    assert len(ids) == 1 and ids.seen("new", 61.0) and not ids.seen("old", 61.0)


def test_a_key_guard_holds_its_last_ring_ids():
    guard = KeyGuard()
    assert guard.size == 0
    for i in range(RING + 8):
        assert guard.check(f"m-{i}", float(i), 3600.0) is None
        guard.remember(f"m-{i}", float(i))
        assert guard.size == min(i + 1, RING)
    assert guard.check(f"m-{RING + 7}", 100.0, 3600.0) == "duplicate"
    assert guard.check("m-0", 100.0, 3600.0) is None  # pushed out by newer ids
    guard.erase(200.0)
    assert guard.size == 0
