"""The event-time watermark: outliers move nothing, a genuine move of time does."""

from __future__ import annotations

import heapq
import random

import pytest

from features.watermark import QUORUM, Watermark

T0 = 1_772_409_600.0  # 2026-03-02
Y2099 = 4_070_908_800.0


def test_matches_the_quorum_th_newest_time_of_every_span_of_events():
    rng = random.Random(20261201)
    for _ in range(200):
        quorum = rng.randint(1, 5)
        span = rng.randint(quorum, 40)
        clock = Watermark(quorum, span)
        times = [rng.choice([rng.uniform(0, 100), float(rng.randint(0, 10))])
                 for _ in range(300)]
        want = 0.0
        for i, ts in enumerate(times):
            window = times[max(0, i - span + 1):i + 1]
            if len(window) >= quorum:
                want = max(want, heapq.nlargest(quorum, window)[-1])
            assert clock.observe(ts) == want, (quorum, span, i)


def test_one_event_dated_far_ahead_moves_nothing():
    clock = Watermark()
    for i in range(50):
        clock.observe(T0 + i)
    clock.observe(Y2099)
    for i in range(50, 100):  # the outlier takes one of the quorum's places, no more
        assert clock.observe(T0 + i) == T0 + i - (QUORUM - 2)


def test_a_genuine_move_of_time_moves_it_after_quorum_events():
    clock = Watermark()
    for i in range(10):
        clock.observe(T0 + i)
    later = T0 + 86_400.0
    moved = [clock.observe(later + i) for i in range(QUORUM)]
    assert all(m < later for m in moved[:-1])
    assert moved[-1] == later


def test_outliers_further_apart_than_the_span_never_agree():
    clock = Watermark(quorum=2, span=100)
    for i in range(1000):
        clock.observe(Y2099 if i % 150 == 0 else T0 + i)
    assert T0 < clock.value < T0 + 1000


def test_quorum_one_is_the_newest_time_and_raise_to_needs_no_quorum():
    newest = Watermark(quorum=1)
    assert [newest.observe(t) for t in (5.0, 3.0, 9.0)] == [5.0, 5.0, 9.0]
    clock = Watermark()
    clock.observe(T0)
    assert clock.raise_to(T0 + 60) == T0 + 60
    assert clock.raise_to(T0) == T0 + 60
    assert [clock.observe(T0 + 61 + i) for i in range(QUORUM)][-1] == T0 + 61


def test_a_quorum_beyond_the_span_is_refused():
    with pytest.raises(ValueError, match="quorum"):
        Watermark(quorum=5, span=4)
