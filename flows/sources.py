"""Input sources: the embedded simulator (default), JSONL files (plain or gzip) and the HTTP
collector, as `RawRecord`s."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from engine.simulator import Simulator
from features.deadletter import DeadLetter
from features.errors import JourneyError
from features.schema import RawRecord
from flows.collector import QueueForwarder
from flows.runtime import Runtime

__all__ = ["CollectorSource", "JsonlSource", "SimulatorSource", "jsonl_source"]

LOCKSTEP_TIMEOUT = 2.0
"""Seconds a simulator partition waits for its last batch to be handled before moving on.

Within one process the world reacts to every decision before it moves on (so a run is
repeatable); when workers span processes, acknowledgements cannot arrive and the partition
continues open-loop after this wait.
"""


class _SimPartition(StatefulSourcePartition[RawRecord, None]):
    def __init__(self, runtime: Runtime, name: str, index: int) -> None:
        s = runtime.settings
        self.runtime = runtime
        self.name = name
        self.sim = Simulator(runtime.core.catalog, seed=s.seed, customers=s.customers,
                             partition=index, partitions=s.sim_partitions, bad_rate=s.bad_rate)
        for c in self.sim.customers.values():
            runtime.owners[c.user] = name
        runtime.track(name)
        self.limit = s.events // s.sim_partitions if s.events else 0
        self.batch = s.batch_size
        self.emitted = 0
        self.waiting_since: float | None = None

    def next_batch(self) -> Iterable[RawRecord]:
        if self.limit and self.emitted >= self.limit:
            if self.runtime.done(self.name) >= self.emitted or self._waited_out():
                raise StopIteration
            return []
        if self.runtime.done(self.name) < self.emitted and not self._waited_out():
            return []
        self.waiting_since = None
        for d in self.runtime.take_mail(self.name):
            self.sim.deliver(d)
        n = min(self.batch, self.limit - self.emitted) if self.limit else self.batch
        out = []
        for rec in self.sim.events(n):
            payload = rec if isinstance(rec, bytes) else orjson.dumps(rec)
            out.append(RawRecord(payload, "events", self.name))
        self.emitted += len(out)
        if not out:
            raise StopIteration
        return out

    def _waited_out(self) -> bool:
        now = time.monotonic()
        if self.waiting_since is None:
            self.waiting_since = now
        return now - self.waiting_since > LOCKSTEP_TIMEOUT

    def next_awake(self) -> datetime | None:
        if self.runtime.done(self.name) < self.emitted:
            return datetime.now(UTC) + timedelta(milliseconds=1)
        return None

    def snapshot(self) -> None:
        return None


class SimulatorSource(FixedPartitionedSource[RawRecord, None]):
    """The embedded simulator, one source partition per slice of the customer population."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list_parts(self) -> list[str]:
        return [f"sim-{i}" for i in range(self.runtime.settings.sim_partitions)]

    def build_part(self, step_id: str, for_part: str,
                   resume_state: None) -> _SimPartition:
        return _SimPartition(self.runtime, for_part, int(for_part.split("-")[1]))


class _CollectorPartition(StatefulSourcePartition[RawRecord | DeadLetter, None]):
    def __init__(self, queue: QueueForwarder, batch: int) -> None:
        self.queue = queue
        self.batch = batch
        self.idle = False

    def next_batch(self) -> list[RawRecord | DeadLetter]:
        items = self.queue.take(self.batch)
        if not items and self.queue.finished:  # drained, or --collector-limit reached
            raise StopIteration
        self.idle = not items
        return items

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + timedelta(milliseconds=5) if self.idle else None

    def snapshot(self) -> None:
        return None  # what the HTTP client was told 200 for is not replayable: use Kafka


class CollectorSource(FixedPartitionedSource[RawRecord | DeadLetter, None]):
    """Events the in-process HTTP collector accepted (one partition, in arrival order); it
    ends once the queue is closed (drain, or its limit) and empty."""

    def __init__(self, queue: QueueForwarder, batch: int = 500) -> None:
        self.queue = queue
        self.batch = batch

    def list_parts(self) -> list[str]:
        return ["collector"]

    def build_part(self, step_id: str, for_part: str,
                   resume_state: None) -> _CollectorPartition:
        return _CollectorPartition(self.queue, self.batch)


GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE = 1 << 20
"""Bytes of one line kept in memory (and in its dead letter); anything longer is far past the
event size limit, is dead-lettered as `oversized` with this prefix, and its rest skipped."""


def _open(path: Path) -> IO[bytes]:
    """The file's bytes: gzip-decompressed when it starts with the gzip magic number."""
    with path.open("rb") as f:
        gz = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gz else path.open("rb")


class _JsonlPartition(StatefulSourcePartition[RawRecord, int]):
    """Lines as bytes (never decoded here: a bad byte is the decoder's `invalid_utf8` dead
    letter, not a crash); the resume state is the offset in the uncompressed stream."""

    def __init__(self, path: Path, batch: int, resume: int | None) -> None:
        self.path, self.origin, self.batch = path, str(path), batch
        self._f = _open(path)
        if resume:
            self._f.seek(resume)

    def _line(self) -> bytes | None:
        try:
            line = self._f.readline(MAX_LINE)
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                while (rest := self._f.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
        except (EOFError, OSError, zlib.error) as e:
            msg = (f"{self.origin}: cannot read past byte {self._f.tell()} ({e}); a truncated or "
                   "corrupt gzip file? Everything before that offset was processed")
            raise JourneyError(msg) from e
        return line.rstrip(b"\n") if line else None

    def next_batch(self) -> list[RawRecord]:
        out: list[RawRecord] = []
        while len(out) < self.batch:
            line = self._line()
            if line is None:
                if not out:
                    raise StopIteration
                break
            out.append(RawRecord(line, "events", self.origin))
        return out

    def snapshot(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()


class JsonlSource(FixedPartitionedSource[RawRecord, int]):
    """One JSONL file (plain or gzip), resumable by offset; one partition, named as bytewax's
    `FileSource` names it so its recovery snapshots still resume."""

    def __init__(self, path: str | Path, batch: int = 1000) -> None:
        self.path = Path(path)
        self.batch = batch

    def list_parts(self) -> list[str]:
        if not self.path.exists():
            return []
        return [f"{hex(self.path.parent.stat().st_dev)}::{self.path}"]

    def build_part(self, step_id: str, for_part: str,
                   resume_state: int | None) -> _JsonlPartition:
        return _JsonlPartition(self.path, self.batch, resume_state)


def jsonl_source(path: str | Path, batch: int = 1) -> JsonlSource:
    """JSONL file source: `RawRecord` lines (bytes), resumable by offset; `.gz` read as gzip.

    One line per batch by default: a keyed step handles a batch grouped by key, so a larger
    batch would let a customer's server-side events (userId only, straight to the known
    tier) overtake her client events (anonymousId, through the device tier); one line at a
    time keeps the file's order across both paths, as the in-process `Engine` does.
    """
    return JsonlSource(path, batch)
