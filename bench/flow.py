"""Flow throughput (the full Journey flow vs a bare `key_on + stateful_map` bytewax flow, as
clusters of 1 and more processes) and the per-event cost of each stage, in-process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from bench.workloads import sim_records
from engine import core, engine, metrics
from engine.catalog import load_catalog
from engine.crosses import CrossSpace
from engine.learning import Learning
from engine.simulator import Simulator
from features.errors import DecodeError
from features.rules import RuleSpace
from features.vector import FeatureSpace
from flows.settings import Settings

__all__ = ["bench_flow", "bench_stages"]

ROOT = Path(__file__).resolve().parents[1]
_TIMEOUT = 900.0


def _write_parts(folder: Path, events: int, customers: int, parts: int) -> float:
    """The simulator's open-loop events, one file per partition; seconds spent generating."""
    catalog, bad_rate = load_catalog(), Settings().bad_rate
    spent = 0.0
    for i in range(parts):
        t0 = time.perf_counter()
        sim = Simulator(catalog, seed=7, customers=customers, partition=i, partitions=parts,
                        bad_rate=bad_rate)
        lines = [r if isinstance(r, bytes) else orjson.dumps(r)
                 for r in sim.events(events // parts)]
        spent += time.perf_counter() - t0
        (folder / f"part-{i}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return spent


def _free_ports(n: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _run_cluster(flow: str, folder: Path, processes: int) -> tuple[int, float]:
    """Run `bench.cluster:<flow>` as one cluster; records read and seconds from the first
    batch read in any process to the last process's return from the dataflow."""
    env = {**os.environ, "JOURNEY_SOURCE": "simulator", "JOURNEY_PROGRESS": "0",
           "JOURNEY_METRICS_PORT": "0",
           "JOURNEY_OUT": str(folder / f"decisions-{processes}.jsonl"),
           "JOURNEY_DEAD_LETTERS": str(folder / f"dead-letters-{processes}.jsonl")}
    cmd = [sys.executable, "-m", "bytewax.run", f"bench.cluster:{flow}({str(folder)!r})"]
    addresses = ";".join(f"127.0.0.1:{p}" for p in _free_ports(processes)) \
        if processes > 1 else ""
    logs = [folder / f"{flow}-{i}.log" for i in range(processes)]
    with ExitStack() as stack:
        procs = [subprocess.Popen(
            cmd + (["-i", str(i), "-a", addresses] if addresses else []), cwd=ROOT,
            env=env, stdout=subprocess.DEVNULL, stderr=stack.enter_context(log.open("wb")))
            for i, log in enumerate(logs)]
        deadline = time.monotonic() + _TIMEOUT
        while any(p.poll() is None for p in procs) and not any(p.returncode for p in procs):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in procs:
            p.kill()
            p.wait()
    if any(p.returncode for p in procs):
        tail = b"".join(log.read_bytes()[-1500:] for log in logs).decode(errors="replace")
        msg = f"the {flow} cluster of {processes} process(es) failed or timed out: {tail}"
        raise RuntimeError(msg)
    marks_file = folder / f"marks-{flow}.jsonl"
    marks = [orjson.loads(line) for line in marks_file.read_bytes().splitlines()]
    marks_file.unlink()
    start = min(m["start"] for m in marks if m["start"] is not None)
    return sum(m["records"] for m in marks), max(m["end"] for m in marks) - start


def bench_flow(events: int, customers: int,
               processes: Sequence[int] = (1, 2)) -> list[dict[str, object]]:
    """Events/s of the full flow and the bare flow, one worker per process, for each cluster
    size in `processes`; both read the same simulator partitions (one per worker of the
    largest cluster), generated before the clock starts."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="journey-bench-") as tmp:
        folder = Path(tmp)
        gen = _write_parts(folder, events, customers, max(processes))
        for n in processes:
            n_bare, t_bare = _run_cluster("bare", folder, n)
            n_full, t_full = _run_cluster("journey", folder, n)
            if n_bare != n_full:
                msg = f"the flows read different inputs: {n_bare} vs {n_full} records"
                raise RuntimeError(msg)
            full, bare = n_full / t_full, n_bare / t_bare
            rows.append({
                "case": f"flow, {n_full:,} simulator events, {n} process{'es' if n > 1 else ''}"
                        " × 1 worker",
                "baseline": "bare bytewax key_on + stateful_map",
                "processes": n, "workers": n,
                "journey_events_per_s": full, "baseline_events_per_s": bare,
                "journey_events_per_s_per_worker": full / n,
                "baseline_events_per_s_per_worker": bare / n,
                "ratio": full / bare,
                "simulator_us_per_event": 1e6 * gen / n_full,
            })
    return rows


class _Clock:
    """Exclusive nanoseconds per stage: a wrapped call's time minus wrapped calls inside it."""

    def __init__(self) -> None:
        self.own: defaultdict[str, int] = defaultdict(int)
        self._inner: list[list[int]] = []

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        own, inner, clock = self.own, self._inner, time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [0]
            inner.append(frame)
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                inner.pop()
                own[stage] += dt - frame[0]
                if inner:
                    inner[-1][0] += dt

        return timed


class _TimedMetric:
    """A Prometheus metric (or `metrics._Children` helper) whose updates count as `metrics`."""

    def __init__(self, target: Any, clock: _Clock) -> None:
        self._target, self._clock = target, clock
        self._children: dict[tuple[str, ...], _TimedMetric] = {}
        for name in ("inc", "set", "observe"):
            if hasattr(target, name):
                setattr(self, name, clock.wrap("metrics", getattr(target, name)))

    def _child(self, make: Callable[..., Any], labels: tuple[str, ...]) -> _TimedMetric:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = _TimedMetric(make(*labels), self._clock)
        return child

    def __call__(self, *labels: str) -> _TimedMetric:
        return self._child(self._target, labels)

    def labels(self, *labels: str) -> _TimedMetric:
        return self._child(self._target.labels, labels)


def _instrument(clock: _Clock) -> list[tuple[object, str, object]]:
    """Install the stage timers; returns what to restore."""
    patches: list[tuple[object, str, Callable[[Any], Any]]] = [
        (engine.Engine, "process", lambda f: clock.wrap("other", f)),
        (engine, "decode", lambda f: clock.wrap("decode", f)),
        (core, "apply_event", lambda f: clock.wrap("features", f)),
        (FeatureSpace, "vectorize", lambda f: clock.wrap("features", f)),
        (RuleSpace, "values", lambda f: clock.wrap("features", f)),
        (CrossSpace, "matrix", lambda f: clock.wrap("features", f)),
        (core.DecisionCore, "_decide", lambda f: clock.wrap("decide", f)),
        (Learning, "apply", lambda f: clock.wrap("learn", f)),
    ]
    patches += [(metrics, name, lambda m: _TimedMetric(m, clock)) for name in metrics.__all__]
    saved = []
    for obj, name, wrap in patches:
        original = getattr(obj, name)
        saved.append((obj, name, original))
        setattr(obj, name, wrap(original))
    return saved


_STAGES = ("decode", "features", "decide", "learn", "metrics", "other")


def bench_stages(events: int, customers: int) -> list[dict[str, object]]:
    """Microseconds per event of each stage of `Engine.process` over open-loop simulator
    records, timed by wrappers installed for the run (exclusive: `decide` excludes the
    feature vector and metrics it computes; `other` is routing, identity tiers, dedupe,
    timers, outcome attribution and contact-window pruning); a `total` row ends the list."""
    payloads = [r.payload for r in sim_records(events, customers)]
    clock = _Clock()
    saved = _instrument(clock)
    try:
        eng = engine.Engine(load_catalog())
        for p in payloads:
            try:
                eng.process(p)
            except DecodeError:
                continue
    finally:
        for obj, name, original in reversed(saved):
            setattr(obj, name, original)
    total = sum(clock.own.values())
    rows: list[dict[str, object]] = [
        {"stage": s, "us_per_event": clock.own[s] / 1e3 / len(payloads),
         "share": clock.own[s] / total} for s in _STAGES]
    rows.append({"stage": "total", "us_per_event": total / 1e3 / len(payloads), "share": 1.0})
    return rows
