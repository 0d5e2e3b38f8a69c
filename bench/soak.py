"""Bounded soak: the full flow, in real time, at 70% of its measured maximum rate.

    .venv/bin/python -m bench.soak                    # 10 minutes (the issue's soak)
    .venv/bin/python -m bench.soak --seconds 60       # a short one

Simulator traffic is re-stamped to the wall clock and paced; a new cohort of customers
arrives every `--cohort` seconds (ids get a cohort suffix), so without expiry the state
would grow without bound; `--state-ttl` keeps it bounded. Every `--window` seconds it
samples RSS, keys held, the backlog (events sent but not yet decoded) and the end-to-end
decision latency (sink time − event time). It prints one row per window and a summary:
memory growth, p99 drift (last third of the run vs the first, after a warm-up window) and
the largest backlog, and writes them to `--out` (JSON).
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSink, run_main

from bench.workloads import sim_records
from engine.kernels import warm_up
from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.logic import GAUGE
from flows.runtime import Runtime
from flows.settings import Settings

__all__ = ["soak"]

ROOT = Path(__file__).resolve().parents[1]
_PAGE = 4096


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


class _Pacer:
    """Shared clock of the paced source: how many events are due, and how many were sent."""

    def __init__(self, records: list[bytes], rate: float, seconds: float, cohort: float) -> None:
        self.records, self.rate, self.seconds, self.cohort = records, rate, seconds, cohort
        self.start = time.monotonic()
        self.sent = 0

    def overdue(self, elapsed: float | None = None) -> int:
        """Events due by now and not yet sent: the backlog when the flow falls behind."""
        if elapsed is None:
            elapsed = time.monotonic() - self.start
        return int(elapsed * self.rate) - self.sent

    def batch(self) -> list[bytes] | None:
        elapsed = time.monotonic() - self.start
        if elapsed >= self.seconds:
            return None
        due = 500 if self.rate == float("inf") else min(self.overdue(elapsed), 1000)
        out = []
        now = datetime.now(UTC).isoformat()
        tag = f"-c{int(elapsed // self.cohort)}"
        for i in range(self.sent, self.sent + max(due, 0)):
            raw = self.records[i % len(self.records)]
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                out.append(raw)  # the simulator's malformed records stay malformed
                continue
            if isinstance(obj, dict):
                obj["timestamp"] = now
                obj["messageId"] = f"{obj.get('messageId', '')}-{i}"
                for field in ("userId", "anonymousId", "previousId"):
                    if isinstance(obj.get(field), str):
                        obj[field] += tag
            out.append(orjson.dumps(obj))
        self.sent += len(out)
        return out


class _PacedPartition(StatelessSourcePartition[Any]):
    def __init__(self, pacer: _Pacer) -> None:
        self.pacer = pacer

    def next_batch(self) -> list[Any]:
        batch = self.pacer.batch()
        if batch is None:
            raise StopIteration
        return [RawRecord(b, "events", "soak") for b in batch]

    def next_awake(self) -> datetime:
        return datetime.fromtimestamp(time.time() + 0.005, UTC)  # poll at 200 Hz, not spin


class _PacedSource(DynamicSource[Any]):
    def __init__(self, pacer: _Pacer) -> None:
        self.pacer = pacer

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _PacedPartition:
        return _PacedPartition(self.pacer)


class _LatencySink(DynamicSink[Any]):
    """Collects end-to-end latency (now − the decision's event time) of each decision."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
        sink = self

        class _Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                now = time.time()
                lat = [now - datetime.fromisoformat(orjson.loads(line)["ts"]).timestamp()
                       for _, line in items]
                with sink.lock:
                    sink.latencies += lat

        return _Part()

    def take(self) -> list[float]:
        with self.lock:
            out, self.latencies = self.latencies, []
        return out


def _max_rate(records: list[bytes], settings: Settings, seconds: float) -> float:
    """Events/s of the full flow on the soak's own traffic, unpaced, for `seconds`."""
    pacer = _Pacer(records, float("inf"), seconds, seconds / 4)
    flow = build_flow(settings, source=_PacedSource(pacer), decisions=TestingSink([]),
                      dead_letters=TestingSink([]), runtime=Runtime(settings))
    pacer.start = time.monotonic()
    run_main(flow)
    return pacer.sent / (time.monotonic() - pacer.start)


def soak(seconds: float = 600.0, share: float = 0.7, window: float = 30.0,
         cohort: float = 60.0, state_ttl: float = 120.0, seed: int = 7,
         report: Any = None) -> dict[str, Any]:
    """Run the soak; return per-window samples and the summary figures."""
    if report is None:
        def report(line: str) -> None:
            print(line, flush=True)
    warm_up()
    records = [r.payload for r in sim_records(40_000, 4_000, seed=seed)]
    base = Settings(progress=False, metrics_port=0, seed=seed, state_ttl=state_ttl,
                    wake_limit=min(10.0, state_ttl / 4), timer_sweep=1.0)
    max_rate = _max_rate(records, base, min(20.0, seconds / 4))
    rate = share * max_rate
    report(f"max rate {max_rate:,.0f} events/s; soaking at {rate:,.0f} events/s "
           f"({share:.0%}) for {seconds:.0f} s")
    rt = Runtime(base)
    pacer = _Pacer(records, rate, seconds, cohort)
    sink = _LatencySink()
    flow = build_flow(base, source=_PacedSource(pacer), decisions=sink,
                      dead_letters=TestingSink([]), runtime=rt)
    samples: list[dict[str, float]] = []
    done = threading.Event()

    keys0 = GAUGE.customers  # (the max-rate run's keys stay counted in this process gauge)

    def sample() -> None:
        t0 = pacer.start
        while not done.wait(window):
            lat = np.array(sink.take() or [np.nan]) * 1e3
            row = {"t_s": round(time.monotonic() - t0), "rss_mb": round(_rss_mb(), 1),
                   "keys": GAUGE.customers - keys0, "sent": pacer.sent,
                   "backlog": max(pacer.overdue(), 0), "decisions": rt.decisions,
                   "p50_ms": round(float(np.nanpercentile(lat, 50)), 2),
                   "p99_ms": round(float(np.nanpercentile(lat, 99)), 2)}
            samples.append(row)
            report("  ".join(f"{k} {v}" for k, v in row.items()))

    monitor = threading.Thread(target=sample, daemon=True)
    rss0 = _rss_mb()
    pacer.start = time.monotonic()
    monitor.start()
    run_main(flow)
    done.set()
    monitor.join()
    return {"max_rate": max_rate, "rate": rate, "seconds": seconds, "window": window,
            "state_ttl": state_ttl, "cohort": cohort, "rss_before_mb": rss0,
            "samples": samples, "summary": _summary(samples)}


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """Growth and drift after the first window (JIT, caches and the first cohorts)."""
    if len(samples) < 4:
        return {}
    steady = samples[1:]
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    minutes = (steady[-1]["t_s"] - steady[0]["t_s"]) / 60
    p99_first = float(np.median([s["p99_ms"] for s in first]))
    p99_last = float(np.median([s["p99_ms"] for s in last]))
    return {
        "rss_growth_mb": round(steady[-1]["rss_mb"] - steady[0]["rss_mb"], 1),
        "rss_growth_mb_per_min": round((steady[-1]["rss_mb"] - steady[0]["rss_mb"])
                                       / max(minutes, 1e-9), 2),
        "keys_max": max(s["keys"] for s in steady),
        "keys_last": steady[-1]["keys"],
        "p99_first_ms": p99_first, "p99_last_ms": p99_last,
        "p99_drift": round(p99_last / p99_first, 2) if p99_first > 0 else float("nan"),
        "backlog_max": max(s["backlog"] for s in steady),
        "achieved_rate": round(steady[-1]["sent"] / steady[-1]["t_s"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.soak`: print the windows and the summary; write the JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--share", type=float, default=0.7, help="share of the measured max rate")
    p.add_argument("--window", type=float, default=30.0, help="seconds per sample")
    p.add_argument("--cohort", type=float, default=60.0,
                   help="seconds between new cohorts of customers")
    p.add_argument("--state-ttl", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(ROOT / "bench" / "soak.json"))
    a = p.parse_args(argv)
    result = soak(a.seconds, a.share, a.window, a.cohort, a.state_ttl, a.seed)
    print(orjson.dumps(result["summary"], option=orjson.OPT_INDENT_2).decode())
    Path(a.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
