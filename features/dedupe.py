"""A bounded, time-windowed memory of message ids (Segment dedupes `messageId` the same way)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

__all__ = ["RecentIds"]


class RecentIds:
    """Ids seen in the last `window` seconds, at most `capacity` of them (oldest forgotten).

    Ids are kept as 8-byte digests, so memory is ~100 bytes per id whatever their length.
    Time is whatever clock the caller passes (event time in the flow, wall time at the edge).
    """

    __slots__ = ("_seen", "capacity", "window")

    def __init__(self, capacity: int = 100_000, window: float = 24 * 3600.0) -> None:
        if capacity < 1 or window <= 0:
            msg = "capacity must be >= 1 and window > 0"
            raise ValueError(msg)
        self.capacity = capacity
        self.window = window
        self._seen: OrderedDict[int, float] = OrderedDict()

    @staticmethod
    def _digest(message_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=8).digest())

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, message_id: str, now: float) -> bool:
        """Whether `message_id` was added within the window before `now`."""
        t = self._seen.get(self._digest(message_id))
        return t is not None and now - t <= self.window

    def discard(self, message_id: str) -> None:
        """Forget `message_id` (its event was not kept after all: a retry must pass)."""
        self._seen.pop(self._digest(message_id), None)

    def add(self, message_id: str, now: float) -> None:
        """Remember `message_id` at `now`, forgetting what fell out of the window or capacity."""
        key = self._digest(message_id)
        self._seen.pop(key, None)
        self._seen[key] = now
        while self._seen:
            oldest_key, oldest = next(iter(self._seen.items()))
            if len(self._seen) <= self.capacity and now - oldest <= self.window:
                break
            del self._seen[oldest_key]
