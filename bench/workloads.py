"""Seeded, clock-free workloads shared by the benchmarks (river's `workloads.py` habit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from engine.catalog import load_catalog
from engine.simulator import Simulator
from features.rules import BASE_RULES
from features.schema import RawRecord

__all__ = ["KernelCase", "kernel_case", "sim_records"]


@dataclass(slots=True)
class KernelCase:
    """Arrays for one scoring call over `n` synthetic treatments × `f` features."""

    n: int
    f: int
    args: tuple
    x: np.ndarray
    rule: np.ndarray
    W: np.ndarray
    b: np.ndarray


def kernel_case(n: int, f: int, seed: int = 7) -> KernelCase:
    """Every treatment eligible (the worst case); one rule predicate per treatment."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.3, (n, f)).astype(np.float32)
    b = rng.normal(-2, 0.5, n).astype(np.float32)
    V = rng.uniform(0.01, 0.1, (n, f)).astype(np.float32)
    value = rng.uniform(1, 30, n).astype(np.float32)
    lever = np.ones(n, dtype=np.float32)
    cost = rng.uniform(0, 0.1, n).astype(np.float32)
    t_channel = (np.arange(n) % 7).astype(np.int32)
    t_action = np.arange(n, dtype=np.int32)
    stage_mask = np.full(n, -1, dtype=np.int32)
    trigger_mask = np.full(n, -1, dtype=np.int32)
    pred_ptr = np.arange(n + 1, dtype=np.int32)
    pred_feat = np.zeros(n, dtype=np.int32)
    pred_op = np.full(n, 3, dtype=np.int32)  # >=
    pred_val = np.zeros(n, dtype=np.float32)
    cw_ptr = np.zeros(n + 1, dtype=np.int32)
    empty_i = np.zeros(0, dtype=np.int32)
    empty_f = np.zeros(0, dtype=np.float32)
    x = rng.uniform(0, 1, f).astype(np.float32)
    rule = rng.uniform(0, 10, len(BASE_RULES)).astype(np.float32)
    channel_ok = np.ones(7, dtype=np.uint8)
    action_ok = np.ones(n, dtype=np.uint8)
    treatment_ok = np.ones(n, dtype=np.uint8)
    budget = np.full(n, 1 << 40, dtype=np.int64)
    off = np.zeros(n, dtype=np.float32)  # per-treatment logit offsets (crosses) and variance
    off_var = np.zeros(n, dtype=np.float32)
    args = (W, b, V, V.max(axis=1), off, off_var, value, lever, cost, t_channel, t_action,
            stage_mask, trigger_mask, pred_ptr, pred_feat, pred_op, pred_val, cw_ptr, empty_i,
            empty_i, empty_f, empty_i, empty_f, channel_ok, action_ok, treatment_ok, budget)
    return KernelCase(n, f, args, x, rule, W, b)


def sim_records(events: int, customers: int, seed: int = 7) -> list[RawRecord]:
    """Open-loop simulator output as raw records (no decisions fed back)."""
    sim = Simulator(load_catalog(), seed=seed, customers=customers)
    return [RawRecord(r if isinstance(r, bytes) else orjson.dumps(r), "events", "bench")
            for r in sim.events(events)]
