"""Flow throughput: the full Journey flow vs a bare `key_on + stateful_map` bytewax flow."""

from __future__ import annotations

import time
from collections.abc import Callable

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from bench.workloads import sim_records
from engine.catalog import load_catalog
from engine.core import CoreConfig, DecisionCore
from features.decode import decode
from features.errors import DecodeError
from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings

__all__ = ["bench_flow", "bench_stages"]


def _bare(records: list[RawRecord]) -> Dataflow:
    flow = Dataflow("bare")
    s = op.input("inp", flow, TestingSource(records, batch_size=500))

    def key(r: RawRecord) -> str:
        try:
            o = orjson.loads(r.payload)
        except orjson.JSONDecodeError:
            return "bad"
        return str(o.get("anonymousId") or o.get("userId") or "ctx") if isinstance(o, dict) \
            else "bad"

    keyed = op.key_on("key", s, key)
    counted = op.stateful_map("count", keyed, lambda n, _r: ((n or 0) + 1, n))
    op.output("out", counted, TestingSink([]))
    return flow


def _timed(build: Callable[[], Dataflow]) -> float:
    flow = build()
    t0 = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - t0


def bench_flow(events: int, customers: int) -> list[dict[str, object]]:
    """Events/s of both flows over the same open-loop simulator records (1 worker)."""
    records = sim_records(events, customers)
    settings = Settings(progress=False, metrics_port=0)

    def full() -> Dataflow:
        return build_flow(settings, source=TestingSource(records, batch_size=500),
                          decisions=TestingSink([]), dead_letters=TestingSink([]),
                          runtime=Runtime(settings))

    t_full, t_bare = _timed(full), _timed(lambda: _bare(records))
    n = len(records)
    return [{"case": f"flow, {n:,} simulator events, 1 worker",
             "baseline": "bare bytewax key_on + stateful_map",
             "journey_events_per_s": n / t_full, "baseline_events_per_s": n / t_bare,
             "ratio": (n / t_full) / (n / t_bare)}]


def bench_stages(events: int, customers: int) -> list[dict[str, object]]:
    """Microseconds per event of each stage, run in-process over the same records."""
    records = sim_records(events, customers)
    t0 = time.perf_counter()
    decoded = []
    for r in records:
        try:
            decoded.append(decode(r.payload))
        except DecodeError:
            continue
    t_decode = time.perf_counter() - t0
    from engine.engine import Engine

    eng = Engine(load_catalog())
    core: DecisionCore = eng.core
    assert isinstance(core.config, CoreConfig)
    t0 = time.perf_counter()
    n_dec = 0
    for ev in decoded:
        n_dec += len(eng.process(ev))
    t_engine = time.perf_counter() - t0
    n = len(decoded)
    return [{"stage": "decode (orjson + validation)", "us_per_event": 1e6 * t_decode / n},
            {"stage": "features + triggers + decide + learn (Engine.process)",
             "us_per_event": 1e6 * t_engine / n},
            {"stage": "decisions per event", "us_per_event": n_dec / n}]
