"""The in-process Engine: closed loop, determinism, identity, learning, erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest
from prometheus_client import REGISTRY

from engine import Engine
from engine.core import CoreConfig
from engine.simulator import Simulator
from features.errors import DecodeError
from features.guard import RING


def _at(minute: float) -> float:
    """Epoch seconds of `make_event(..., minute=minute)` (the event time, not the watermark:
    two events are no quorum to move it)."""
    return datetime(2026, 3, 2, tzinfo=UTC).timestamp() + 60.0 * minute


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
    """A response is a label at once; the decision counts for uplift (and its tally) when
    its attribution window ends, on event time (it used to count at the click)."""
    engine.process(make_event("track", "Product Added", properties={"price": 40, "quantity": 1}))
    [d] = engine.process(make_event("page", "Cart", minute=1,
                                    properties={"placement": "cart_page"}))
    model = engine.core.model
    before = engine.core.board.version, model.n, model.positives
    engine.process(make_event("track", "Promotion Clicked", minute=2,
                              properties={"decision_id": d.decision_id}))
    assert engine.core.board.version == before[0] + 1
    assert (model.n, model.positives) == (before[1] + 1, before[2] + 1)
    stats = engine.core.uplift.stats
    assert d.policy not in stats or stats[d.policy].decisions == 0
    attribution = engine.core.catalog.attribution_window
    engine.advance_to(d.ts + attribution - 1)
    assert d.policy not in stats or stats[d.policy].decisions == 0
    engine.advance_to(d.ts + attribution)
    assert (stats[d.policy].decisions, stats[d.policy].rewards) == (1, 1)
    assert (model.n, model.positives) == (before[1] + 1, before[2] + 1)  # labelled once
    tid = f"{d.action_id}@{d.channel}"
    assert engine.learning.tallies[tid].by_policy[d.policy].rewards == 1


def _labels(engine) -> tuple[int, int]:
    return engine.core.model.n, engine.core.model.positives


def test_an_unanswered_decision_is_labelled_at_the_end_of_its_response_window(engine,
                                                                             make_event):
    """When labels arrive: a decision nobody answers is a negative for the response model
    exactly when its response window ends on event time (web: the 2 h default), through
    `Engine.advance_to` alone, with no further event from the customer; it is finished
    (uplift, tallies) when its attribution window ends (3 d)."""
    [d] = engine.process(make_event("page", "Home", minute=600,
                                    properties={"placement": "home_hero"}))
    cat = engine.core.catalog
    assert d.channel == "web" and cat.channels["web"].response_window == 2 * 3600.0
    n, positives = _labels(engine)
    version = engine.core.board.version
    assert engine.advance_to(d.ts + 2 * 3600.0 - 1) == []
    assert _labels(engine) == (n, positives) and engine.core.board.version == version
    engine.advance_to(d.ts + 2 * 3600.0)
    assert _labels(engine) == (n + 1, positives)  # label 0
    assert engine.core.board.version == version + 1
    state = next(iter(engine.states.values()))
    assert state.ignores[d.action_id] == (1.0, d.ts + 2 * 3600.0)
    stats = engine.core.uplift.stats
    engine.advance_to(d.ts + cat.attribution_window - 1)
    assert d.policy not in stats or stats[d.policy].decisions == 0
    engine.advance_to(d.ts + cat.attribution_window)
    assert (stats[d.policy].decisions, stats[d.policy].rewards) == (1, 0)
    assert _labels(engine) == (n + 1, positives)
    assert state.pending == [] and "label" not in state.timers


def test_response_windows_are_per_channel(engine, make_event):
    """An email decision (the catalog gives email a 1-day window) is still open at 2 h and
    labelled at 1 day, again with no event from the customer."""
    engine.process(make_event("identify", traits={"consent": {"email": True}},
                              context={"timezone": "UTC"}, minute=600))
    engine.process(make_event("track", "Product Added", minute=601,
                              properties={"price": 50, "quantity": 1}))
    [d] = engine.advance_to(_at(601) + 3600)
    assert (d.trigger, d.channel) == ("cart_abandoned", "email")
    n, positives = _labels(engine)
    engine.advance_to(d.ts + 2 * 3600.0)
    assert _labels(engine) == (n, positives)
    engine.advance_to(d.ts + 86400.0 - 1)
    assert _labels(engine) == (n, positives)
    engine.advance_to(d.ts + 86400.0)
    assert _labels(engine) == (n + 1, positives)


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
    assert engine.advance_to(_at(601) + 1800) == []
    fired = engine.advance_to(_at(601) + 3600)
    assert [d.trigger for d in fired] == ["cart_abandoned"]
    assert fired[0].channel in ("email", "push")


@pytest.mark.parametrize(("user", "anon"), [("u1", None), (None, "dev9"), ("u1", "dev9")],
                         ids=["known", "anonymous", "forwarded"])
def test_a_corrected_resend_after_a_decode_error_is_processed(catalog, make_event, user, anon):
    """`process` raised for the first copy (a wrong-typed price): the resend under the same
    `messageId` is not a duplicate, and leaves the state a lone good copy leaves."""
    start = make_event("identify", user=user, anon=anon, traits={"age": 30})
    bad = make_event("track", "Product Added", user=user, anon=anon, minute=1,
                     properties={"price": "forty", "quantity": 1}, messageId="m-fix")
    fixed = dict(bad, properties={"price": 40, "quantity": 1})
    resent, once = Engine(catalog, seed=7), Engine(catalog, seed=7)
    resent.process(start)
    with pytest.raises(DecodeError) as e:
        resent.process(bad)
    assert e.value.reason == "wrong_type"
    resent.process(fixed)
    once.process(start)
    once.process(fixed)
    who = user or anon
    assert resent.features(who)["cart_value"] > 0
    assert resent.features(who) == once.features(who)
    resent.process(fixed)  # a retry of the handled copy is a duplicate again
    assert resent.features(who) == once.features(who)


def _abandoned_carts(make_event, outlier: bool, late_minute: float) -> tuple[list, Engine]:
    """Two shoppers leave a cart at minute 601 (the timer: an hour); then maybe one event
    dated 2099, then three other customers' events at `late_minute`."""
    engine = Engine(seed=7)
    fired = []
    for user in ("s1", "s2"):
        fired += engine.process(make_event("identify", user=user, minute=600,
                                           traits={"consent": {"email": True}},
                                           context={"timezone": "UTC"}))
        fired += engine.process(make_event("track", "Product Added", user=user, minute=601,
                                           properties={"price": 50, "quantity": 1}))
    if outlier:
        fired += engine.process(dict(make_event("page", "Home", user="clock-2099"),
                                     timestamp="2099-01-01T00:00:00Z"))
    for i in range(3):
        fired += engine.process(make_event("page", "Home", user=f"o{i}", minute=late_minute))
    return [d for d in fired if d.trigger == "cart_abandoned"], engine


def test_one_event_dated_far_ahead_fires_no_timer_early(make_event):
    carts, engine = _abandoned_carts(make_event, outlier=True, late_minute=620)
    assert carts == []
    assert engine.watermark < _at(621)


def test_many_events_later_fire_the_timers(make_event):
    carts, _ = _abandoned_carts(make_event, outlier=True, late_minute=720)
    assert sorted(d.customer_id for d in carts) == ["s1", "s2"]


def test_remembered_message_ids_are_bounded_per_key(engine, make_event):
    for i in range(40):
        engine.process(make_event("page", "Home", minute=i))
    engine.process(make_event("page", "Home", user="u2", anon="dev2", minute=41))
    assert engine.dedupe_ids() == RING + 1  # u1's last 32; u2's (the device forwarded it)
    assert REGISTRY.get_sample_value("journey_dedupe_ids", {"store": "keys"}) == RING + 1
