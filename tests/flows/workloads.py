"""Seeded simulator traffic for the flow tests (independent of `bench/`, which has its own
workloads and its own pace of change)."""

from __future__ import annotations

import orjson

from engine.catalog import load_catalog
from engine.simulator import Simulator
from features.schema import RawRecord

__all__ = ["sim_records"]


def sim_records(events: int, customers: int, seed: int = 7) -> list[RawRecord]:
    """Open-loop simulator output as raw records (no decisions fed back)."""
    sim = Simulator(load_catalog(), seed=seed, customers=customers)
    return [RawRecord(r if isinstance(r, bytes) else orjson.dumps(r), "events", "sim")
            for r in sim.events(events)]
