"""The numba kernels equal their plain-Python twins."""

from __future__ import annotations

import numpy as np
import pytest

from engine import kernels
from engine.catalog import TRIGGERS
from engine.scorer import Scorer, WeightBoard
from features.rules import RULE_NAMES


@pytest.fixture(scope="module")
def scorers(catalog):
    board = WeightBoard(catalog)
    return board, Scorer(catalog, board), Scorer(catalog, board, python=True)


def _case(rng, catalog, board):
    board.W[:] = rng.normal(0, 0.5, board.W.shape)
    board.b[:] = rng.normal(-1, 1, board.b.shape)
    board.V[:] = rng.uniform(0, 0.2, board.V.shape)
    board.vmax[:] = board.V.max(axis=1)
    x = rng.uniform(0, 1, board.W.shape[1]).astype(np.float32)
    rule = rng.uniform(0, 50, len(RULE_NAMES)).astype(np.float32)
    ch = (rng.uniform(size=7) < 0.8).astype(np.uint8)
    act = (rng.uniform(size=len(catalog.actions)) < 0.9).astype(np.uint8)
    budget = rng.integers(0, 3, len(catalog.actions)).astype(np.int64)
    return x, rule, ch, act, budget, int(rng.integers(11)), TRIGGERS[int(rng.integers(6))]


def test_score_one_equals_the_python_twin(catalog, scorers):
    board, fast, slow = scorers
    rng = np.random.default_rng(5)
    for i in range(150):
        args = _case(rng, catalog, board)
        a, b = fast.score(*args, seed=i * 7919), slow.score(*args, seed=i * 7919)
        assert a.chosen == b.chosen and a.probability == pytest.approx(b.probability, abs=1e-12)
        assert (a.status == b.status).all() and (a.topk == b.topk).all()
        assert np.allclose(a.topk_score, b.topk_score, rtol=1e-4)


def test_score_batch_equals_single_decisions(catalog, scorers):
    board, fast, _ = scorers
    rng = np.random.default_rng(6)
    cases = [_case(rng, catalog, board) for _ in range(12)]
    budget = cases[-1][4]  # one budget array for every row
    X = np.stack([c[0] for c in cases])
    R = np.stack([c[1] for c in cases])
    CH = np.stack([c[2] for c in cases])
    ACT = np.stack([c[3] for c in cases])
    stages = np.array([c[5] for c in cases])
    triggers = [c[6] for c in cases]
    seeds = np.arange(12, dtype=np.uint64) * 31
    many = fast.score_batch(X, R, CH, ACT, budget, stages, triggers, seeds)
    for r, res in enumerate(many):
        one = fast.score(X[r], R[r], CH[r], ACT[r], budget, int(stages[r]), triggers[r],
                         int(seeds[r]))
        assert res.chosen == one.chosen and res.probability == pytest.approx(one.probability)
        assert (res.status == one.status).all()


def test_nothing_eligible_returns_no_choice(catalog, scorers):
    board, fast, slow = scorers
    x, rule, _, act, budget, stage, trigger = _case(np.random.default_rng(1), catalog, board)
    for s in (fast, slow):
        res = s.score(x, rule, np.zeros(7, dtype=np.uint8), act, budget, stage, trigger, 3)
        assert res.chosen == -1 and (res.status != 0).all()


def test_counter_rng_is_standard_normal():
    z = np.array([kernels.splitmix_normal_py(99, i) for i in range(20_000)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
