"""Per-call latency distributions: the whole decision, the scoring kernel, and numpy sgemv.

The decision latencies come from the closed-loop Journey run (`Decision.latency_us`: context
lookup, vectorize, contact policy, kernel, decision record); the kernel and its sgemv
baseline are timed call by call on the same seeded 1000 × 64 workload.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from bench.workloads import kernel_case
from engine import kernels

__all__ = ["bench_latency"]


def _per_call_us(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) / 1e3
    return out


def _percentiles(s: np.ndarray) -> dict[str, float]:
    p50, p99, p999 = np.percentile(s, [50, 99, 99.9])
    return {"p50_us": float(p50), "p99_us": float(p99), "p99_9_us": float(p999)}


def bench_latency(decide_us: Sequence[float], *, n: int = 5000, actions: int = 1000,
                  features: int = 64, keep: int = 2000) -> dict[str, object]:
    """Latency percentiles and (subsampled) samples per path; ratio kernel/sgemv at p50."""
    c = kernel_case(actions, features)
    status = np.empty(actions, dtype=np.int8)
    topk = np.empty(3, dtype=np.int64)
    prio = np.empty(3)
    seeds = iter(range(1, 10 * n))

    def one() -> object:
        return kernels.score_one(c.x, c.rule, *c.args, np.int32(1), np.int32(1),
                                 np.uint64(next(seeds)), 32, status, topk, prio)

    def gemv() -> object:
        return c.W @ c.x

    one(), gemv()
    kernel_name = f"scoring kernel, {actions} × {features}"
    gemv_name = f"numpy W @ x (sgemv), {actions} × {features}"
    samples = {kernel_name: _per_call_us(one, n), gemv_name: _per_call_us(gemv, n)}
    if len(decide_us):
        samples["whole decision (catalog of 71 treatments)"] = np.asarray(decide_us, float)
    rng = np.random.default_rng(0)
    kept = {k: np.sort(rng.choice(v, min(keep, len(v)), replace=False)).round(3).tolist()
            for k, v in samples.items()}
    pct = {k: _percentiles(v) for k, v in samples.items()}
    return {"percentiles": pct, "samples_us": kept, "kernel": kernel_name, "baseline": gemv_name,
            "p50_ratio": pct[kernel_name]["p50_us"] / pct[gemv_name]["p50_us"],
            "p99_ratio": pct[kernel_name]["p99_us"] / pct[gemv_name]["p99_us"]}
