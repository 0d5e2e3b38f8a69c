"""A progress line on a terminal (events/s, decisions, dead letters, uplift) and run summary."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from engine import metrics
from flows.runtime import Runtime

__all__ = ["Progress", "events_seen"]


def events_seen() -> float:
    """Decoded records so far in this process (from the Prometheus counter)."""
    return sum(s.value for m in metrics.EVENTS.collect() for s in m.samples
               if s.name.endswith("_total"))


class Progress:
    """Prints a status line every `every` seconds until stopped."""

    def __init__(self, rt: Runtime, *, every: float = 2.0, stream: TextIO = sys.stderr) -> None:
        self.rt, self.every, self.stream = rt, every, stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="journey-progress", daemon=True)
        self._start = time.monotonic()
        self._tty = stream.isatty()

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.line(final=True)

    def _loop(self) -> None:
        last_t, last_n = time.monotonic(), events_seen()
        while not self._stop.wait(self.every):
            now, n = time.monotonic(), events_seen()
            self.line(rate=(n - last_n) / max(now - last_t, 1e-9))
            last_t, last_n = now, n

    def line(self, *, rate: float | None = None, final: bool = False) -> None:
        """Write one status line (overwritten in place on a terminal)."""
        n = events_seen()
        elapsed = time.monotonic() - self._start
        if rate is None:
            rate = n / max(elapsed, 1e-9)
        u = self.rt.core.uplift.summary()
        text = (f"events {int(n):>9,}  {rate:>8,.0f}/s  decisions {self.rt.decisions:>8,}  "
                f"dead letters {self.rt.dead_letters:>6,}  model v{self.rt.core.board.version}  "
                f"uplift {u['uplift_value_per_decision']:+.3f}/decision")
        end = "\n" if final or not self._tty else "\r"
        self.stream.write(text + end)
        self.stream.flush()
