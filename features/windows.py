"""Sliding-window counts in human units: one view counts as one until it leaves its window.

A windowed counter is `1 + BUCKETS` floats of a state row: the absolute index of the newest
bucket, then a ring of bucket counts. Bucket width is `window / (BUCKETS - 1)`, so an event
counts for at least its whole window and at most one bucket longer (a 7-day counter uses
daily buckets: a view counts for 7 to 8 days). Everything is on event time.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BUCKETS", "WIDTH", "add", "count", "merge"]

BUCKETS = 8
WIDTH = 1 + BUCKETS
"""Row slots one windowed counter takes."""


def _bucket(ts: float, window: float) -> int:
    return math.floor(ts / (window / (BUCKETS - 1)))


def _advance(row: np.ndarray, base: int, h: int) -> None:
    head = int(row[base])
    if h <= head:
        return
    for i in range(max(head + 1, h - BUCKETS + 1), h + 1):
        row[base + 1 + i % BUCKETS] = 0.0
    if h - head >= BUCKETS:
        row[base + 1 : base + WIDTH] = 0.0
    row[base] = float(h)


def add(row: np.ndarray, base: int, window: float, ts: float, amount: float = 1.0) -> None:
    """Count `amount` at event time `ts` (an event older than the ring is not counted)."""
    h = _bucket(ts, window)
    head = int(row[base])
    if h > head:
        _advance(row, base, h)
    elif h <= head - BUCKETS:
        return
    row[base + 1 + h % BUCKETS] += amount


def count(row: np.ndarray, base: int, window: float, now: float) -> float:
    """Events counted inside the window ending at event time `now`."""
    h = _bucket(now, window)
    head = int(row[base])
    total = 0.0
    for i in range(max(head, h) - BUCKETS + 1, min(head, h) + 1):
        total += row[base + 1 + i % BUCKETS]
    return total


def merge(dst: np.ndarray, src: np.ndarray, base: int) -> None:
    """Add `src`'s counter into `dst`'s (both rows use the same layout)."""
    h = max(int(dst[base]), int(src[base]))
    s = src[base : base + WIDTH].copy()
    _advance(dst, base, h)
    _advance(s, 0, h)
    dst[base + 1 : base + WIDTH] += s[1:]
