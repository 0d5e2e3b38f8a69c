"""The numba kernels equal their plain-Python twins."""

from __future__ import annotations

import numpy as np
import pytest

from engine import kernels
from engine.crosses import CrossSpace
from engine.model import ResponseModel, ValueModel
from engine.scorer import Scorer, WeightBoard


@pytest.fixture(scope="module")
def scorers(catalog):
    model = ResponseModel()
    model.bind(catalog, CrossSpace(catalog))
    board = WeightBoard(catalog, model, ValueModel())
    return board, Scorer(catalog, board), Scorer(catalog, board, python=True)


def _randomize(rng, board) -> None:
    """Random rows, including the shared cross weights (so every treatment gets a random
    logit offset and offset variance from its random crosses)."""
    board.W[:] = rng.normal(0, 0.5, board.W.shape)
    board.b[:] = rng.normal(-1, 1, board.b.shape)
    board.V[:] = rng.uniform(0, 0.2, board.V.shape)
    board.vmax[:] = board.V.max(axis=1)
    board.cross_w[:] = rng.normal(0, 0.5, board.cross_w.shape)
    board.cross_v[:] = rng.uniform(0, 0.3, board.cross_v.shape)
    board.value[:] = rng.uniform(1, 30, board.value.shape)


def _case(rng, catalog, board):
    _randomize(rng, board)
    n = catalog.n_treatments
    x = rng.uniform(0, 1, board.W.shape[1]).astype(np.float32)
    rule = rng.uniform(0, 50, catalog.rules.size).astype(np.float32)
    crosses = rng.normal(0, 1, (n, board.cross_w.shape[0])).astype(np.float32)
    ch = (rng.uniform(size=len(catalog.world.channels)) < 0.8).astype(np.uint8)
    act = (rng.uniform(size=len(catalog.actions)) < 0.9).astype(np.uint8)
    treatment_ok = (rng.uniform(size=n) < 0.85).astype(np.uint8)
    budget = rng.integers(0, 3, len(catalog.actions)).astype(np.int64)
    stage = int(rng.integers(len(catalog.lifecycle.stages)))
    trigger = catalog.trigger_names[int(rng.integers(len(catalog.trigger_names)))]
    return x, rule, crosses, ch, act, treatment_ok, budget, stage, trigger


def test_random_cases_exercise_offsets_and_every_status(catalog, scorers):
    board, fast, _ = scorers
    rng = np.random.default_rng(5)
    seen: set[int] = set()
    for i in range(150):
        args = _case(rng, catalog, board)
        off, off_var = fast.offsets(args[0], args[2])
        assert off.std() > 0.1 and (off_var > 0).all()
        seen |= set(fast.score(*args, seed=i * 7919).status.tolist())
    assert seen == set(range(len(kernels.STATUS)))


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
    board, fast, slow = scorers
    rng = np.random.default_rng(6)
    cases = [_case(rng, catalog, board) for _ in range(12)]  # the board of the last case
    budget = cases[-1][6]  # one budget array for every row
    X, R, C, CH, ACT, TOK = (np.stack([c[i] for c in cases]) for i in range(6))
    stages = np.array([c[7] for c in cases])
    triggers = [c[8] for c in cases]
    seeds = np.arange(12, dtype=np.uint64) * 31
    many = fast.score_batch(X, R, C, CH, ACT, TOK, budget, stages, triggers, seeds)
    twins = slow.score_batch(X, R, C, CH, ACT, TOK, budget, stages, triggers, seeds)
    for r, (res, twin) in enumerate(zip(many, twins, strict=True)):
        one = fast.score(X[r], R[r], C[r], CH[r], ACT[r], TOK[r], budget, int(stages[r]),
                         triggers[r], int(seeds[r]))
        assert res.chosen == one.chosen and res.probability == pytest.approx(one.probability)
        assert (res.status == one.status).all()
        assert twin.chosen == res.chosen and (twin.status == res.status).all()
        assert twin.probability == pytest.approx(res.probability, abs=1e-12)


def test_nothing_eligible_returns_no_choice(catalog, scorers):
    board, fast, slow = scorers
    x, rule, crosses, _, act, tok, budget, stage, trigger = _case(
        np.random.default_rng(1), catalog, board)
    closed = np.zeros(len(catalog.world.channels), dtype=np.uint8)
    for s in (fast, slow):
        res = s.score(x, rule, crosses, closed, act, tok, budget, stage, trigger, 3)
        assert res.chosen == -1 and (res.status != 0).all()


def test_the_treatment_mask_blocks_single_treatments(catalog, scorers):
    """A per action x channel cooldown: masked treatments are `blocked`, their action's other
    channels stay eligible."""
    board, fast, slow = scorers
    x, rule, crosses, _, _, _, _, _, _ = _case(np.random.default_rng(2), catalog, board)
    n = catalog.n_treatments
    ch = np.ones(len(catalog.world.channels), dtype=np.uint8)
    act = np.ones(len(catalog.actions), dtype=np.uint8)
    budget = np.full(len(catalog.actions), 5, dtype=np.int64)
    rule = np.full(catalog.rules.size, 1e6, dtype=np.float32)  # `>=` rules hold
    every = [fast.score(x, rule, crosses, ch, act, np.ones(n, dtype=np.uint8), budget, s, t, 3)
             for s in range(len(catalog.lifecycle.stages)) for t in catalog.trigger_names]
    open_ = np.flatnonzero(np.any([r.status == 0 for r in every], axis=0))
    assert len(open_) > 10
    tok = np.ones(n, dtype=np.uint8)
    tok[open_[::2]] = 0
    for s in range(len(catalog.lifecycle.stages)):
        for t in catalog.trigger_names:
            plain = fast.score(x, rule, crosses, ch, act, np.ones(n, dtype=np.uint8), budget,
                               s, t, 3)
            for scorer in (fast, slow):
                res = scorer.score(x, rule, crosses, ch, act, tok, budget, s, t, 3)
                expect = np.where((plain.status == 0) & (tok == 0), 4, plain.status)
                assert (res.status == expect).all()
                assert res.chosen == -1 or tok[res.chosen] == 1


def test_counter_rng_is_standard_normal():
    z = np.array([kernels.splitmix_normal_py(99, i) for i in range(20_000)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
