"""A resumable in-memory source that dies on cue, and a runner that resumes it.

Each restart gets a fresh `Runtime` (what a new process would have), so anything the flow
does not snapshot is lost, as it would be after a real crash.
"""

from __future__ import annotations

import pickle
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, run_main

from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings
from flows.store import init_store, scrub

SETTINGS = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=3600.0)
"""Timer sweeps are wall-clock driven; pushed out so runs fire timers on events only."""
BATCH = 50
"""Records per source batch (each batch is its own epoch: a snapshot after every batch)."""


class Crash(RuntimeError):
    """The simulated process death."""


class _Partition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, records: list[RawRecord], crashes: set[int], resume: int | None,
                 idle: float, batch: int) -> None:
        self.records, self.crashes, self.i = records, crashes, resume or 0
        self.batch = batch
        self.idle_until: float | None = None
        self.idle = idle

    def next_batch(self) -> list[RawRecord]:
        if self.i >= len(self.records) and self.i not in self.crashes:
            if self.idle_until is None:  # stay open with no input, as a tailing source does
                self.idle_until = time.monotonic() + self.idle
            if time.monotonic() < self.idle_until:
                return []
            raise StopIteration
        if self.i in self.crashes:  # dies while earlier batches may still be in flight
            self.crashes.discard(self.i)
            msg = f"crash at record {self.i}"
            raise Crash(msg)
        batch = self.records[self.i:self.i + self.batch]
        self.i += len(batch)
        return batch

    def snapshot(self) -> int:
        return self.i


class Replayable(FixedPartitionedSource[RawRecord, int]):
    """A resumable source (like a file or Kafka partition) that dies at given offsets."""

    def __init__(self, records: list[RawRecord], crashes: set[int], idle: float = 0.0,
                 batch: int = BATCH) -> None:
        self.records, self.crashes, self.idle, self.batch = records, crashes, idle, batch

    def list_parts(self) -> list[str]:
        return ["p0"]

    def build_part(self, step_id: str, for_part: str, resume: int | None) -> _Partition:
        return _Partition(self.records, self.crashes, resume, self.idle, self.batch)


def run_with_crashes(records: list[RawRecord], db: Path, crashes: list[int], *,
                     settings: list[Settings] | None = None,
                     idle: float = 0.0, batch: int = BATCH) -> tuple[list, list, Runtime]:
    """Run over `records`, crashing at each offset in `crashes` and resuming from `db`
    (offsets are multiples of `batch`: a source dies between reads)."""
    db.mkdir()
    pending = set(crashes)
    source = Replayable(records, pending, idle, batch)
    decisions: list[tuple[str, str]] = []
    dead: list[tuple[str, str]] = []
    for attempt in range(len(crashes) + 1):
        s = settings[attempt] if settings else SETTINGS
        rt = Runtime(s)  # a new process: nothing shared survives the crash
        init_store(db, 1)  # what `journey run --recovery-dir` does at every start
        flow = build_flow(s, source=source, decisions=TestingSink(decisions),
                          dead_letters=TestingSink(dead), runtime=rt)
        try:
            run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(db))
        except Exception as e:  # noqa: BLE001 - bytewax wraps the source's exception
            assert isinstance(e.__cause__, Crash), e
        else:
            scrub(db)  # ... and after a clean stop
    assert not pending
    return decisions, dead, rt


def final_snapshots(db: Path) -> dict[tuple[str, str], Any]:
    """The newest snapshot of every (step, key) in a one-partition recovery store."""
    con = sqlite3.connect(db / "part-0.sqlite3")
    rows = con.execute(
        "SELECT step_id, state_key, ser_change FROM snaps s WHERE snap_epoch = "
        "(SELECT MAX(snap_epoch) FROM snaps t WHERE t.step_id = s.step_id "
        "AND t.state_key = s.state_key)").fetchall()
    con.close()
    return {(step, key): pickle.loads(blob) for step, key, blob in rows if blob is not None}
