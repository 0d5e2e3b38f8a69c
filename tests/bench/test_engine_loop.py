"""The Engine driver: worlds through Journey's core with a peer behind the Policy seam."""

from __future__ import annotations

import pytest

from bench.engine_loop import Recorder, run_engine
from bench.peers import RandomPolicy
from bench.quality import make_peer, run_one
from bench.worlds import load_world


class _Ledger(RandomPolicy):
    """A random peer that keeps every reward it is taught, by decision id."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.rewards: dict[str, float] = {}

    def learn(self, choice, treatment, probability, reward):
        assert choice.decision_id not in self.rewards  # each decision is settled once
        self.rewards[choice.decision_id] = reward


@pytest.mark.parametrize("name", ["offers", "telco"])
def test_rewards_the_engine_pays_peers_are_the_worlds_realized_net_values(name):
    world = load_world(name, seed=7, customers=60, days=8)
    ledger = _Ledger(7)
    out = run_engine(world, "ledger", 7, lambda *a: ledger, None)
    assert out["decisions"] > 100
    assert set(ledger.rewards) == set(world.realized)  # every delivered decision settled
    wrong = {d: (r, world.realized[d]) for d, r in ledger.rewards.items()
             if abs(r - world.realized[d]) > 0.011}
    assert not wrong, list(wrong.items())[:5]
    assert any(r > 0 for r in ledger.rewards.values())


@pytest.mark.parametrize("policy", ["vw", "logistic_ts", "control", "journey"])
def test_every_choice_is_scored_among_its_eligible_treatments(policy):
    out = run_one("telco", policy, 11, customers=50, days=8)
    assert out["decisions"] > 50
    assert out["oracle_value_per_decision"] >= out["value_per_decision"]
    curve = out["curve"]["cumulative_regret"]
    assert curve == sorted(curve)  # regret never negative


def test_recorder_rejects_a_choice_outside_the_eligible_set():
    class Rogue:
        name = "rogue"

        def choose(self, choice):
            return -1, 1.0

        def learn(self, *args):
            return None

    with pytest.raises(AssertionError, match="eligible"):
        run_engine(load_world("offers", seed=7, customers=5, days=2), "rogue", 7,
                   lambda *a: Rogue(), None)


def test_make_peer_builds_every_peer():
    for name in ("random", "popular", "linucb", "vw", "logistic_ts"):
        assert Recorder(make_peer(name, "offers", 1, "engine")).name


def test_what_a_peer_was_offered_is_kept_only_for_open_decisions_and_bounded(monkeypatch):
    """Choices wait for their decision to finish; with the run cut short (no attribution
    window ends), at most `_MAX_OPEN_CHOICES` stay, the newest."""
    import engine.core
    from engine.catalog import load_catalog
    from engine.engine import Engine

    monkeypatch.setattr(engine.core, "_MAX_OPEN_CHOICES", 5)
    world = load_world("offers", seed=7, customers=20, days=2)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        catalog = load_catalog(world.write_catalog(tmp))
    eng = Engine(catalog, policy=RandomPolicy(7))
    made = []
    for rec in world.events():
        for d in eng.process(rec):
            made.append(d.decision_id)
            world.deliver({"decision_id": d.decision_id, "customer_id": d.customer_id,
                           "ts": d.ts, "action_id": d.action_id, "channel": d.channel})
    open_ = list(eng.core._choices)
    assert len(made) > 5 and len(open_) == 5
    assert set(open_) <= set(made[-20:])
