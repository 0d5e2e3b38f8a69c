"""Per-key admission: duplicate `messageId`s, erasure tombstones and idle expiry.

A `KeyGuard` sits beside each keyed state in the flow and answers, before any feature code
runs, whether an event is new (`None`), a retry already handled (`"duplicate"`), or for a
customer who asked to be forgotten (`"erased"`). It is small by construction: the last
`RING` message-id digests of the key and three timestamps.

An id is remembered only once its event was handled (`remember`, after the step returned):
an event the feature or decision code rejected (dead-lettered) is not a duplicate of its
corrected resend under the same `messageId`.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from typing import Literal

__all__ = ["RING", "KeyGuard", "Verdict"]

RING = 32
"""Message ids remembered per key: a retry is caught if fewer than this many newer events of
the same customer arrived in between (and within the window)."""

Verdict = Literal["duplicate", "erased"] | None


def _digest(message_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=8).digest())


class KeyGuard:
    """Recent message ids, erasure time and last activity of one key (event time, seconds)."""

    __slots__ = ("_ids", "_next", "_times", "erased_at", "last_seen")

    def __init__(self) -> None:
        self._forget_ids()
        self.erased_at = -1.0
        """Event time of the erasure request; negative while the key is live."""
        self.last_seen = -math.inf
        """Newest event time this key admitted (or its erasure time)."""

    def _forget_ids(self) -> None:
        self._ids = array("Q", bytes(8 * RING))
        self._times = array("d", [-math.inf] * RING)
        self._next = 0

    @property
    def erased(self) -> bool:
        return self.erased_at >= 0

    @property
    def size(self) -> int:
        """Message ids held (at most `RING`; the ring fills from slot 0, then wraps)."""
        return RING if self._times[self._next] != -math.inf else self._next

    def check(self, message_id: str, ts: float, window: float) -> Verdict:
        """Whether one event is to be skipped; changes nothing (`window` bounds how old a
        remembered id may be)."""
        if self.erased:
            return "erased"
        d = _digest(message_id)
        horizon = max(self.last_seen, ts) - window
        for i in range(RING):
            if self._ids[i] == d and self._times[i] >= horizon:
                return "duplicate"
        return None

    def remember(self, message_id: str, ts: float) -> None:
        """Record a handled event: its id (a later copy is a duplicate) and its time."""
        self._ids[self._next], self._times[self._next] = _digest(message_id), ts
        self._next = (self._next + 1) % RING
        self.touch(ts)

    def touch(self, ts: float) -> None:
        """Record activity without the id (an event handed on to another key)."""
        self.last_seen = max(self.last_seen, ts)

    def erase(self, ts: float) -> None:
        """Become a tombstone: forget the ids, keep only the erasure time."""
        self._forget_ids()
        self.erased_at = ts
        self.last_seen = ts

    def expires_at(self, ttl: float) -> float:
        """Event time after which the key may be dropped, `ttl` after its last activity
        (`ttl` <= 0: never)."""
        return self.last_seen + ttl if ttl > 0 else math.inf

    def __getstate__(self) -> tuple[bytes, bytes, int, float, float]:
        return (self._ids.tobytes(), self._times.tobytes(), self._next, self.erased_at,
                self.last_seen)

    def __setstate__(self, s: tuple[bytes, bytes, int, float, float]) -> None:
        ids, times, self._next, self.erased_at, self.last_seen = s
        self._ids, self._times = array("Q"), array("d")
        self._ids.frombytes(ids)
        self._times.frombytes(times)
