"""Resuming under a changed catalog: what still matches is kept, by stable id; what was
removed is dropped; new treatments start at the prior; an older state snapshot upgrades."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine.catalog import parse_catalog
from engine.core import DecisionCore
from engine.learning import Learning
from engine.recovery import restore_customer, restore_learning
from features.errors import RecoveryError

BASE = """\
version: "1"
channels:
  web: {{cost: 0}}
  email: {{cost: 0.1, outbound: true}}
actions:
{actions}
"""
ACTION = """\
  - id: {id}
    channels: [web, email]
    messages: {{web: "w", email: "e"}}
"""
START = 1_775_000_000.0


def _catalog(*ids: str, categories: str = ""):
    text = BASE.format(actions="".join(ACTION.format(id=i) for i in ids))
    if categories:
        text = text.replace("channels:", f"world:\n  categories: [{categories}]\nchannels:", 1)
    return parse_catalog(text, "c.yaml")


def _trained(core: DecisionCore) -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        t = int(rng.integers(core.catalog.n_treatments))
        x = np.zeros(core.catalog.features.size, dtype=np.float32)
        x[0] = 1.0
        x[1:6] = rng.uniform(0, 1, 5)
        c = rng.uniform(0, 1, (len(core.crosses.names),)).astype(np.float32)
        core.model.learn_one(t, x, c, bool(rng.uniform() < 0.3))
    core.publish()


def _rows(core: DecisionCore) -> dict[str, np.ndarray]:
    b = core.model.blocks["treatment"]
    return {tid: b.w[i].copy() for i, tid in enumerate(b.rows)}


def _pending(core: DecisionCore, tid: str):
    from features.state import Pending

    t = core.catalog.treatment_ids.index(tid)
    return Pending("d-" + tid, tid, t, int(core.catalog.t_action[t]),
                   int(core.catalog.t_channel[t]), START, "learned",
                   np.zeros(core.catalog.features.size, dtype=np.float32),
                   np.zeros(len(core.crosses.names), dtype=np.float32), 0.5,
                   respond_by=START + 7200, attribute_by=START + 86400)


@pytest.mark.parametrize(("after", "kept", "new"), [
    (("b", "a"), {"a@web", "a@email", "b@web", "b@email"}, set()),            # reordered
    (("a", "b", "c"), {"a@web", "a@email", "b@web", "b@email"}, {"c@web", "c@email"}),  # added
    (("b",), {"b@web", "b@email"}, set()),                                     # a removed
])
def test_learned_rows_follow_their_treatment_ids(after, kept, new):
    old = DecisionCore(_catalog("a", "b"))
    _trained(old)
    learned = _rows(old)
    snapshot = pickle.loads(pickle.dumps(Learning.of(old)))
    core = DecisionCore(_catalog(*after))
    restore_learning(core, snapshot)
    rows = _rows(core)
    assert set(rows) == {f"{a}@{ch}" for a in after for ch in ("web", "email")}
    # one action on two channels: channel and treatment group the treatments alike, so
    # the channel rows joined the treatment rows (the logits below are unchanged)
    same_blocks = set(core.model.blocks) == set(old.model.blocks)
    assert same_blocks == (len(after) > 1)
    for tid in kept:
        assert np.array_equal(rows[tid], learned[tid]) == same_blocks, tid
    for tid in new:
        assert not rows[tid].any()  # at the prior
    # the kernel's rows follow the new order
    for t, tid in enumerate(core.catalog.treatment_ids):
        if tid in kept:
            i = old.catalog.treatment_ids.index(tid)
            assert np.allclose(core.board.W[t], old.board.W[i]), tid


def test_pending_decisions_are_rebound_by_id_and_those_of_removed_treatments_dropped():
    old = DecisionCore(_catalog("a", "b"))
    state = old.new_state("u", known=True)
    state.pending = [_pending(old, "a@email"), _pending(old, "b@web")]
    core = DecisionCore(_catalog("b", "c"))
    budget = core.budget_left.copy()
    restore_customer(core, state)
    assert [p.tid for p in state.pending] == ["b@web"]
    p = state.pending[0]
    assert core.catalog.treatment_ids[p.treatment] == "b@web"
    assert core.catalog.actions[p.action].id == "b"
    assert list(core.budget_left) == [budget[0] - 1, budget[1]]


def test_a_changed_world_is_refused_with_a_clear_error():
    old = DecisionCore(_catalog("a", categories="shoes"))
    state = old.new_state("u", known=True)
    core = DecisionCore(_catalog("a", categories="shoes, socks"))
    with pytest.raises(RecoveryError, match="categories, channels or traits changed"):
        restore_customer(core, state)


def test_a_state_snapshot_from_an_older_version_upgrades_with_defaults():
    core = DecisionCore(_catalog("a"))
    state = core.new_state("u", known=True)
    state.viewed = ["p1"]
    raw = state.__getstate__()
    del raw["bought"], raw["added"]  # fields a newer version added
    raw["retired_field"] = 1  # a field a newer version dropped
    clone = type(state).__new__(type(state))
    clone.__setstate__(raw)
    assert clone.viewed == ["p1"] and clone.bought == [] and clone.added == []
    assert not hasattr(clone, "retired_field")
    assert np.array_equal(clone.row, state.row)
