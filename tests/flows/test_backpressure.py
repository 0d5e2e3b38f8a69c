"""A slow sink slows the source down: records do not pile up in between."""

from __future__ import annotations

import time
from typing import Any

from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSink, run_main

from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings
from tests.flows.workloads import sim_records

BATCH = 200
PAUSE = 0.02


class _Source(DynamicSource[RawRecord]):
    """Reads in batches and notes, at each read, how far it is ahead of the flow."""

    def __init__(self, records: list[RawRecord], rt: Runtime) -> None:
        self.records, self.rt = records, rt
        self.read = 0
        self.most_ahead = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
        src = self

        class _Part(StatelessSourcePartition[RawRecord]):
            def next_batch(self) -> list[RawRecord]:
                if src.read >= len(src.records):
                    raise StopIteration
                src.most_ahead = max(src.most_ahead, src.read - src.rt.done("sim"))
                batch = src.records[src.read:src.read + BATCH]
                src.read += len(batch)
                return batch

        return _Part()


class _SlowSink(DynamicSink[Any]):
    """A congested downstream system: every write takes `PAUSE` seconds. Notes, at each
    write, how much of the input the source had read by then."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.writes = 0
        self.read_at_write: list[int] = []

    def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
        sink = self

        class _Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                sink.read_at_write.append(sink.source.read)
                time.sleep(PAUSE)
                sink.writes += 1

        return _Part()


def test_a_slow_sink_holds_the_source_back():
    records = sim_records(6_000, 300, seed=2)
    settings = Settings(seed=2, progress=False, metrics_port=0)
    rt = Runtime(settings)
    rt.track("sim")
    source = _Source(records, rt)
    sink = _SlowSink(source)
    flow = build_flow(settings, source=source, decisions=sink, dead_letters=TestingSink([]),
                      runtime=rt)
    run_main(flow)
    assert rt.done("sim") == len(records)
    # the slow writes happened while the input was being read, all along it (not in one
    # burst after the source had raced to its end): the sink was in the source's way
    assert sink.writes >= 10
    during = [r for r in sink.read_at_write if r < len(records)]
    assert len(during) >= 10
    assert min(during) <= len(records) // 4 and max(during) >= len(records) * 3 // 4
    # while the sink was slow the source read at most a couple of batches ahead of what the
    # flow had handled: backpressure, not an ever-growing buffer
    assert source.most_ahead <= 3 * BATCH
