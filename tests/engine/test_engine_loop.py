"""The in-process Engine: closed loop, determinism, identity, learning, erasure."""

from __future__ import annotations

import jsonschema
import pytest

from engine import Engine
from engine.core import CoreConfig
from engine.simulator import Simulator
from features.errors import DecodeError


def _loop(catalog, events: int, seed: int = 7) -> tuple[Engine, list]:
    eng = Engine(catalog, seed=seed)
    sim = Simulator(catalog, seed=seed, customers=150)
    out = []
    for rec in sim.events(events):
        for d in eng.process(rec):
            out.append(d)
            sim.deliver(d.to_dict())
    return eng, out


def test_closed_loop_is_deterministic(catalog):
    _, a = _loop(catalog, 4000)
    _, b = _loop(catalog, 4000)
    assert len(a) > 100
    assert [(d.decision_id, d.action_id, d.channel, d.probability) for d in a] == \
        [(d.decision_id, d.action_id, d.channel, d.probability) for d in b]


def test_closed_loop_learns_and_records_match_the_schema(catalog, decision_schema):
    eng, decisions = _loop(catalog, 8000)
    assert eng.core.board.version > 0
    assert {d.policy for d in decisions} == {"learned", "control"}
    for d in decisions[:300]:
        jsonschema.validate(d.to_dict(), decision_schema)
        assert 0.0 < d.probability <= 1.0


def test_anonymous_history_follows_identify(engine, make_event):
    engine.process(make_event("track", "Product Added", user=None, anon="dev1",
                              properties={"price": 30, "quantity": 2, "category": "toys"}))
    assert engine.features("dev1")["rule.cart_items"] == 2.0
    engine.process(make_event("identify", user="ann", anon="dev1", minute=1))
    f = engine.features("ann")
    assert f["rule.cart_items"] == 2.0 and f["rule.cart_value"] == 60.0
    engine.process(make_event("track", "Product Added", user=None, anon="dev1", minute=2,
                              properties={"price": 10, "quantity": 1}))
    assert engine.features("ann")["rule.cart_items"] == 3.0


def test_click_updates_the_learner(engine, make_event):
    engine.process(make_event("track", "Product Added", properties={"price": 40, "quantity": 1}))
    [d] = engine.process(make_event("page", "Cart", minute=1,
                                    properties={"placement": "cart_page"}))
    before = engine.core.board.version
    engine.process(make_event("track", "Promotion Clicked", minute=2,
                              properties={"decision_id": d.decision_id}))
    assert engine.core.board.version == before + 1
    assert engine.core.uplift.stats[d.policy].rewards == 1


def test_forget_erases_state_and_ignores_later_events(engine, make_event):
    engine.process(make_event("track", "Product Viewed", anon="dev2"))
    engine.forget("u1")
    assert engine.features("u1") == {}
    engine.process(make_event("track", "Product Viewed", minute=1))
    assert engine.features("u1") == {}


def test_malformed_input_raises_decode_error(engine):
    with pytest.raises(DecodeError) as e:
        engine.process(b'{"type": "track"}')
    assert e.value.reason == "missing_timestamp"


def test_control_share_is_close_to_configured(catalog):
    eng = Engine(catalog, config=CoreConfig(seed=1, control_share=0.1))
    share = sum(eng.core.is_control(f"k{i}") for i in range(20_000)) / 20_000
    assert abs(share - 0.1) < 0.01


def test_cart_abandon_timer_fires_on_event_time(engine, make_event):
    engine.process(make_event("identify", traits={"consent": {"email": True, "push": True}},
                              context={"timezone": "UTC"}, minute=600))
    engine.process(make_event("track", "Product Added", minute=601,
                              properties={"price": 50, "quantity": 1}))
    assert engine.advance_to(engine.watermark + 1800) == []
    fired = engine.advance_to(engine.watermark + 3600)
    assert [d.trigger for d in fired] == ["cart_abandoned"]
    assert fired[0].channel in ("email", "push")
