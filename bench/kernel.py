"""Scoring kernel vs numpy BLAS, single decision (sgemv) and batched (sgemm), and vs river.

The river baselines are the naive paths a Python NBA engine would take: one
`LogisticRegression.predict_proba_one` per action, and river's own contextual bandit,
`bandit.LinUCBDisjoint.pull`, over the same actions and features (each arm fed a few dense
examples first, so it knows every feature). Both score a dict of features; the kernel and BLAS
score a float32 vector.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np
from river import bandit, linear_model, utils

from bench.workloads import KernelCase, kernel_case
from engine import kernels

__all__ = ["bench_call_overhead", "bench_kernel"]


def _best_ns(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best mean time per call over `repeat` rounds of `number` calls (ns)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / number)
    return best


def _river_models(c: KernelCase) -> tuple[list[linear_model.LogisticRegression], dict]:
    """One river logistic regression per action, holding the case's weights."""
    names = [f"x{i}" for i in range(c.f)]
    models = []
    for i in range(c.n):
        m = linear_model.LogisticRegression()
        m._weights = utils.VectorDict(dict(zip(names, map(float, c.W[i]), strict=True)))
        m.intercept = float(c.b[i])
        models.append(m)
    return models, dict(zip(names, map(float, c.x), strict=True))


def _linucb(c: KernelCase, seed: int = 7, examples: int = 4) -> bandit.LinUCBDisjoint:
    """river's LinUCBDisjoint with every action as an arm, each fed a few dense examples."""
    rng = np.random.default_rng(seed)
    policy = bandit.LinUCBDisjoint(seed=seed)
    names = [f"x{i}" for i in range(c.f)]
    X = rng.uniform(0, 1, (examples, c.f))
    for arm in range(c.n):
        for row in X:
            policy.update(arm, dict(zip(names, map(float, row), strict=True)),
                          float(row @ c.W[arm]))
    return policy


def _river_rows(c: KernelCase, t_one: float, repeat: int, number: int) -> list[dict[str, object]]:
    models, xd = _river_models(c)
    policy = _linucb(c)
    arms = list(range(c.n))

    def naive() -> object:
        return max(range(c.n), key=lambda i: models[i].predict_proba_one(xd)[True])

    def linucb() -> object:
        return policy.pull(arms, context=xd)

    # each call is n Python-level scorings: a few rounds of a few calls measure it well
    num = max(1, number // 100)
    rows = []
    for label, fn in (("river predict_proba_one per action", naive),
                      ("river LinUCBDisjoint.pull", linucb)):
        t = _best_ns(fn, max(2, repeat // 2), num)
        rows.append({"case": f"single {c.n}x{c.f}", "baseline": label,
                     "journey_us": t_one / 1e3, "baseline_us": t / 1e3,
                     "ns_per_action": t_one / c.n, "ratio": t_one / t})
    return rows


def bench_kernel(sizes: list[tuple[int, int]], *, batch: int = 256, repeat: int = 5,
                 number: int = 200, river: bool = True) -> list[dict[str, object]]:
    """Rows: single-decision kernel vs `W @ x` (and vs river's per-action and LinUCB paths
    when `river`), batched kernel vs `X @ W.T`."""
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
        if river:
            rows.extend(_river_rows(c, t_one, repeat, number))
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
        tok = np.ones((batch, n), dtype=np.uint8)
        args = list(c.args[:-4])  # catalog arrays without the per-decision masks
        args[4] = np.zeros((batch, n), dtype=np.float32)  # per-decision logit offsets
        args[5] = np.zeros((batch, n), dtype=np.float32)  # and their variances

        def many(X=X, R=R, ch=ch, act=act, tok=tok, sb=sb, seeds=seeds, st=st, pr=pr, tk=tk,
                 chosen=chosen, prob=prob, args=args, c=c) -> object:
            return kernels.score_batch(X, R, *args, ch, act, tok, c.args[-1], sb, sb, seeds, 32,
                                       st, tk, pr, chosen, prob)

        def gemm(X=X, c=c) -> object:
            return X @ c.W.T

        many()
        num = max(number // 20, 3)
        t_many, t_gemm = _best_ns(many, repeat, num), _best_ns(gemm, repeat, num)
        rows.append({"case": f"batch {batch} x {n}x{f}", "baseline": "numpy X @ W.T (sgemm)",
                     "journey_us": t_many / 1e3 / batch, "baseline_us": t_gemm / 1e3 / batch,
                     "ns_per_action": t_many / batch / n, "ratio": t_many / t_gemm})
    return rows


@numba.njit
def _no_work(*args: object) -> int:
    return 0


def bench_call_overhead(n: int = 1000, f: int = 64, *, repeat: int = 5,
                        number: int = 2000) -> dict[str, object]:
    """What a numba call with `score_one`'s arguments costs before any work, vs `W @ x`.

    Each array argument is unboxed on every call: a floor under the single-decision kernel
    that a BLAS call with two arrays does not pay.
    """
    c = kernel_case(n, f)
    status = np.empty(n, dtype=np.int8)
    topk = np.empty(3, dtype=np.int64)
    prio = np.empty(3)
    args = (c.x, c.rule, *c.args, np.int32(1), np.int32(1), np.uint64(1), 32, status, topk, prio)

    def call() -> object:
        return _no_work(*args)

    def gemv() -> object:
        return c.W @ c.x

    call()
    t_call, t_gemv = _best_ns(call, repeat, number), _best_ns(gemv, repeat, number)
    return {"case": f"numba call with the kernel's {len(args)} arguments, no work",
            "arguments": len(args), "baseline": f"numpy W @ x (sgemv), {n}x{f}",
            "journey_us": t_call / 1e3, "baseline_us": t_gemv / 1e3, "ratio": t_call / t_gemv}
