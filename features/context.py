"""Regional context signals (weather, ...) as an as-of lookup table.

Context is small, keyed by region and read by every customer: the flow keeps one table per
process (a "global table", as Kafka Streams' GlobalKTable) and every worker reads all of it.
Lookups are as-of event time, so a replay sees the same signal whatever the arrival order.
"""

from __future__ import annotations

import bisect
import threading

__all__ = ["ContextTable"]


class ContextTable:
    """Region → time-ordered signal snapshots; `lookup` returns the latest at or before `ts`."""

    def __init__(self, history: int = 48) -> None:
        self._history = history
        self._times: dict[str, list[float]] = {}
        self._values: dict[str, list[dict[str, float]]] = {}
        self._lock = threading.Lock()

    def update(self, region: str, ts: float, signals: dict[str, float]) -> None:
        """Record the signals for `region` at event time `ts` (merged with earlier keys)."""
        with self._lock:
            times = self._times.setdefault(region, [])
            values = self._values.setdefault(region, [])
            i = bisect.bisect_right(times, ts)
            base = dict(values[i - 1]) if i > 0 else {}
            base.update(signals)
            times.insert(i, ts)
            values.insert(i, base)
            if len(times) > self._history:
                del times[0], values[0]

    def lookup(self, region: str | None, ts: float) -> dict[str, float]:
        """Signals in force for `region` at `ts` (empty when unknown)."""
        if region is None:
            return {}
        times = self._times.get(region)
        if not times:
            return {}
        i = bisect.bisect_right(times, ts)
        return self._values[region][i - 1] if i > 0 else {}

    def export(self, region: str) -> tuple[list[float], list[dict[str, float]]]:
        """Copies of one region's history (for snapshots)."""
        with self._lock:
            return (list(self._times.get(region, [])),
                    [dict(v) for v in self._values.get(region, [])])

    def restore(self, region: str, times: list[float], values: list[dict[str, float]]) -> None:
        """Install one region's history from a snapshot."""
        with self._lock:
            self._times[region] = list(times)
            self._values[region] = [dict(v) for v in values]

    def __len__(self) -> int:
        return len(self._times)
