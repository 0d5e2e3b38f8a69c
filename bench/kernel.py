"""Scoring kernel vs numpy BLAS, single decision (sgemv) and batched (sgemm)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from bench.workloads import kernel_case
from engine import kernels

__all__ = ["bench_kernel"]


def _best_ns(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best mean time per call over `repeat` rounds of `number` calls (ns)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / number)
    return best


def bench_kernel(sizes: list[tuple[int, int]], *, batch: int = 256, repeat: int = 5,
                 number: int = 200) -> list[dict[str, object]]:
    """Rows: single-decision kernel vs `W @ x`, batched kernel vs `X @ W.T`."""
    rows: list[dict[str, object]] = []
    for n, f in sizes:
        c = kernel_case(n, f)
        status = np.empty(n, dtype=np.int8)
        topk = np.empty(3, dtype=np.int64)
        prio = np.empty(3)
        seed = np.uint64(12345)

        def one(c=c, status=status, prio=prio, topk=topk, seed=seed) -> object:
            return kernels.score_one(c.x, c.rule, *c.args, np.int32(1), np.int32(1), seed, 32,
                                     status, topk, prio)

        def gemv(c=c) -> object:
            return c.W @ c.x

        one()
        t_one, t_gemv = _best_ns(one, repeat, number), _best_ns(gemv, repeat, number)
        rows.append({"case": f"single {n}x{f}", "baseline": "numpy W @ x (sgemv)",
                     "journey_us": t_one / 1e3, "baseline_us": t_gemv / 1e3,
                     "ns_per_action": t_one / n, "ratio": t_one / t_gemv})
        rng = np.random.default_rng(1)
        X = rng.uniform(0, 1, (batch, f)).astype(np.float32)
        R = np.repeat(c.rule[None, :], batch, axis=0)
        ch = np.ones((batch, 7), dtype=np.uint8)
        act = np.ones((batch, n), dtype=np.uint8)
        sb = np.full(batch, 1, dtype=np.int32)
        seeds = np.arange(batch, dtype=np.uint64)
        st = np.empty((batch, n), dtype=np.int8)
        tk = np.empty((batch, 3), dtype=np.int64)
        pr = np.empty((batch, 3))
        chosen = np.empty(batch, dtype=np.int64)
        prob = np.empty(batch)
        args = c.args[:-3]  # catalog arrays without the per-decision masks

        def many(X=X, R=R, ch=ch, act=act, sb=sb, seeds=seeds, st=st, pr=pr, tk=tk,
                 chosen=chosen, prob=prob, args=args, c=c) -> object:
            return kernels.score_batch(X, R, *args, ch, act, c.args[-1], sb, sb, seeds, 32, st,
                                       tk, pr, chosen, prob)

        def gemm(X=X, c=c) -> object:
            return X @ c.W.T

        many()
        num = max(number // 20, 3)
        t_many, t_gemm = _best_ns(many, repeat, num), _best_ns(gemm, repeat, num)
        rows.append({"case": f"batch {batch} x {n}x{f}", "baseline": "numpy X @ W.T (sgemm)",
                     "journey_us": t_many / 1e3 / batch, "baseline_us": t_gemm / 1e3 / batch,
                     "ns_per_action": t_many / batch / n, "ratio": t_many / t_gemm})
    return rows
