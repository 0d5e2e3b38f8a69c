"""Flows `bench.flow` runs as clusters: `python -m bytewax.run "bench.cluster:journey(DIR)"`.

Wiring only. Both flows read the same records: `DIR/part-<i>.jsonl`, one source partition per
file (the simulator's partitions, written by `bench.flow`). Each process appends one line to
`DIR/marks-<flow>.jsonl` as it exits: the wall-clock time its first batch was read (`start`),
the time the dataflow returned (`end`) and how many records it read (`records`). So the
cluster's run time excludes interpreter start-up, imports, JIT warm-up and cluster formation.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from engine.kernels import warm_up
from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.settings import Settings

__all__ = ["bare", "journey"]


class _Marks:
    """This process's timing marks, written once at exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start: float | None = None
        self.records = 0
        self._lock = threading.Lock()
        atexit.register(self._write)

    def read(self, n: int) -> None:
        with self._lock:
            if self.start is None:
                self.start = time.time()
            self.records += n

    def _write(self) -> None:
        line = orjson.dumps({"pid": os.getpid(), "start": self.start, "end": time.time(),
                             "records": self.records})
        with self.path.open("ab") as f:
            f.write(line + b"\n")


class _FilePartition(StatefulSourcePartition[RawRecord, None]):
    def __init__(self, path: Path, batch: int, marks: _Marks) -> None:
        self.records = [RawRecord(line, "events", path.stem)
                        for line in path.read_bytes().splitlines()]
        self.batch = batch
        self.marks = marks
        self.pos = 0

    def next_batch(self) -> list[RawRecord]:
        out = self.records[self.pos:self.pos + self.batch]
        if not out:
            raise StopIteration
        self.pos += len(out)
        self.marks.read(len(out))
        return out

    def snapshot(self) -> None:
        return None


class _Parts(FixedPartitionedSource[RawRecord, None]):
    """One partition per `part-*.jsonl` file, loaded whole before the first batch."""

    def __init__(self, folder: Path, batch: int, marks: _Marks) -> None:
        self.folder = folder
        self.batch = batch
        self.marks = marks

    def list_parts(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob("part-*.jsonl"))

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _FilePartition:
        return _FilePartition(self.folder / for_part, self.batch, self.marks)


class _DiscardPartition(StatelessSinkPartition[object]):
    def write_batch(self, items: list[object]) -> None:
        return None


class _Discard(DynamicSink[object]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DiscardPartition:
        return _DiscardPartition()


def _source(folder: str, flow: str, settings: Settings) -> _Parts:
    path = Path(folder)
    return _Parts(path, settings.batch_size, _Marks(path / f"marks-{flow}.jsonl"))


def journey(folder: str) -> Dataflow:
    """The full Journey flow (`flows.dataflow.build_flow`, settings from `JOURNEY_*`)."""
    settings = Settings.from_env()
    warm_up()
    return build_flow(settings, source=_source(folder, "journey", settings))


def _identity(rec: RawRecord) -> str:
    try:
        o = orjson.loads(rec.payload)
    except orjson.JSONDecodeError:
        return "bad"
    if not isinstance(o, dict):
        return "bad"
    return str(o.get("anonymousId") or o.get("userId") or o.get("region") or "none")


def bare(folder: str) -> Dataflow:
    """Parse, `key_on` the customer id, count per key with `stateful_map`, discard."""
    flow = Dataflow("bare")
    s = op.input("inp", flow, _source(folder, "bare", Settings.from_env()))
    keyed = op.key_on("key", s, _identity)
    counted = op.stateful_map("count", keyed, lambda n, _r: ((n or 0) + 1, n))
    op.output("out", counted, _Discard())
    return flow
