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
    """A congested downstream system: every write takes `PAUSE` seconds."""

    def __init__(self) -> None:
        self.writes = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
        sink = self

        class _Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                time.sleep(PAUSE)
                sink.writes += 1

        return _Part()


def test_a_slow_sink_holds_the_source_back():
    records = sim_records(6_000, 300, seed=2)
    settings = Settings(seed=2, progress=False, metrics_port=0)
    rt = Runtime(settings)
    rt.track("sim")
    source, sink = _Source(records, rt), _SlowSink()
    flow = build_flow(settings, source=source, decisions=sink, dead_letters=TestingSink([]),
                      runtime=rt)
    started = time.perf_counter()
    run_main(flow)
    elapsed = time.perf_counter() - started
    assert rt.done("sim") == len(records)
    assert sink.writes >= 10 and elapsed >= sink.writes * PAUSE  # the sink was in the way
    # while the sink was slow the source read at most a couple of batches ahead of what the
    # flow had handled: backpressure, not an ever-growing buffer
    assert source.most_ahead <= 3 * BATCH
