"""Peers behind the Policy seam: they choose eligible treatments, report probabilities in
(0, 1], and learn (the logistic Thompson sampler separates a toy problem)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from bench.peers import (
    LinUCBPolicy,
    LogisticTSPolicy,
    PopularPolicy,
    RandomPolicy,
    VowpalPolicy,
)
from bench.worlds import load_world
from bench.worlds.reference import CROSS_NAMES, ReferenceCatalog


@dataclass
class _Action:
    id: str
    kind: str = "offer"
    category: str = "c"
    attributes: dict = field(default_factory=dict)
    value: float = 10.0


class _Catalog:
    """Two treatments on one channel each (a test double of engine.catalog.Catalog)."""

    def __init__(self, n: int) -> None:
        self.actions = [_Action(f"a{i}", attributes={"discount": 0.1 * i}) for i in range(n)]
        self.n_treatments = n
        self.cost = np.full(n, 0.5)
        self.value = np.full(n, 10.0)

    def treatment(self, t: int):
        return self.actions[int(t)], "web"


@dataclass
class _Choice:
    x: np.ndarray
    crosses: np.ndarray
    cross_names: tuple[str, ...]
    eligible: np.ndarray
    catalog: object


def _peers(seed: int):
    return [RandomPolicy(seed), PopularPolicy(seed), LinUCBPolicy(seed),
            LinUCBPolicy(seed, alpha=10.0, beta=0.01), VowpalPolicy(seed),
            LogisticTSPolicy(seed)]


@pytest.mark.parametrize("peer", _peers(3), ids=lambda p: p.name)
def test_peers_choose_only_eligible_treatments_with_probabilities_in_0_1(peer):
    cat = ReferenceCatalog(load_world("offers", seed=3, customers=1).config)
    rng = np.random.default_rng(3)
    d = 12
    for _ in range(150):
        eligible = np.sort(rng.choice(cat.n_treatments, size=rng.integers(1, 8), replace=False))
        x = np.concatenate([[1.0], rng.normal(size=d - 1)]).astype(np.float32)
        crosses = rng.random((cat.n_treatments, len(CROSS_NAMES))).astype(np.float32)
        choice = _Choice(x, crosses, CROSS_NAMES, eligible.astype(np.int64), cat)
        t, p = peer.choose(choice)
        assert t in eligible.tolist()
        assert 0.0 < p <= 1.0
        peer.learn(choice, t, p, float(rng.random() < 0.2) * 50.0 - float(cat.cost[t]))


def _toy(peer, rounds: int, seed: int) -> float:
    """Treatment 0 pays when x[1] > 0, treatment 1 when x[1] < 0; the share of the last
    200 decisions that picked the paying one."""
    cat = _Catalog(2)
    rng = np.random.default_rng(seed)
    right = []
    for _ in range(rounds):
        f = rng.choice([-1.0, 1.0]) * (0.5 + rng.random())
        x = np.array([1.0, f, rng.normal()], dtype=np.float32)
        choice = _Choice(x, np.zeros((2, 0), np.float32), (), np.array([0, 1]), cat)
        t, p = peer.choose(choice)
        pays = (t == 0) == (f > 0)
        right.append(pays)
        peer.learn(choice, t, p, (10.0 if pays else 0.0) - 0.5)
    return float(np.mean(right[-200:]))


def test_logistic_thompson_sampling_learns_a_separable_problem():
    assert _toy(LogisticTSPolicy(5), 600, 5) > 0.95
    assert 0.35 < _toy(RandomPolicy(5), 600, 5) < 0.65  # the problem is not trivial


def test_logistic_thompson_sampling_reports_its_win_share():
    peer = LogisticTSPolicy(9, n_draws=64)
    cat = _Catalog(3)
    choice = _Choice(np.array([1.0, 0.0], np.float32), np.zeros((3, 0), np.float32), (),
                     np.array([0, 1, 2]), cat)
    shares = [peer.choose(choice)[1] for _ in range(200)]
    assert all(1 / 64 <= s <= 1.0 for s in shares)
    assert 0.2 < np.mean(shares) < 0.6  # untrained: three treatments alike, about a third
    for _ in range(300):
        peer.learn(choice, 2, 1.0, 9.5)
        peer.learn(choice, 0, 1.0, -0.5)
        peer.learn(choice, 1, 1.0, -0.5)
    assert peer.value(choice, 2) == pytest.approx(10.0, rel=0.05)
    assert all(peer.choose(choice) == (2, 1.0) for _ in range(50))


def test_seeded_peers_repeat_themselves():
    def run(seed):
        peer = VowpalPolicy(seed)
        return _toy(peer, 300, 1), _toy(LogisticTSPolicy(seed), 300, 1)

    assert run(4) == run(4)
