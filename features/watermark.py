"""An event-time watermark that one event dated far ahead cannot drag along.

The watermark drives what happens to keys that receive no event: timer sweeps, state and
tombstone expiry, and the timers fired when the input ends. If it followed the newest event
time, one record dated 2099 (a broken clock, a typo, an attacker; nothing stops it when
`--future-tolerance 0`) would fire every customer's timers and expire every state at once.

So it moves to an event time only once `quorum` events within `span` consecutive ones
have reached it: it is the largest, over every run of `span` events, of the `quorum`-th
newest time among them. Up to `quorum - 1` outliers per `span` events move nothing; a
genuine move of time (a stream going on) moves it after `quorum - 1` events, the lag on
the newest event time. Only the at most `quorum - 1` times above the watermark are kept.
"""

from __future__ import annotations

__all__ = ["QUORUM", "SPAN", "Watermark"]

QUORUM = 3
"""Events that must reach an event time before the watermark moves there (default)."""
SPAN = 10_000
"""Consecutive events within which they must (an outlier is forgotten after this many)."""


class Watermark:
    """The event time `quorum` of some `span` consecutive observed events reached."""

    __slots__ = ("_above", "_n", "quorum", "span", "value")

    def __init__(self, quorum: int = QUORUM, span: int = SPAN, value: float = 0.0) -> None:
        if quorum < 1 or span < quorum:
            msg = f"quorum must be >= 1 and span >= quorum, got {quorum!r} and {span!r}"
            raise ValueError(msg)
        self.quorum, self.span, self.value = quorum, span, value
        self._n = 0
        self._above: list[tuple[float, int]] = []
        """Recent event times above the watermark, with their sequence numbers."""

    def observe(self, ts: float) -> float:
        """Count one event at time `ts`; the watermark after it."""
        self._n += 1
        if ts <= self.value:
            return self.value
        oldest = self._n - self.span
        above = [a for a in self._above if a[1] > oldest]
        above.append((ts, self._n))
        if len(above) >= self.quorum:
            above.sort(reverse=True)
            self.value = above[self.quorum - 1][0]
            above = [a for a in above[:self.quorum - 1] if a[0] > self.value]
        self._above = above
        return self.value

    def raise_to(self, ts: float) -> float:
        """Move to `ts` if later, without a quorum (an explicit or recovered time)."""
        if ts > self.value:
            self.value = ts
            self._above = [a for a in self._above if a[0] > ts]
        return self.value
