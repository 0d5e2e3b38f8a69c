"""Per-customer state: event-time decay, merge, stage, pickling, size."""

from __future__ import annotations

import math
import pickle

import orjson
import pytest

from features.decode import decode
from features.stage import Stage
from features.state import CustomerState, Slot
from features.update import apply_event


def _apply(state: CustomerState, ev: dict) -> None:
    apply_event(state, decode(orjson.dumps(ev)))


def test_counters_decay_by_event_time_not_wall_clock(make_event):
    s = CustomerState("u1", known=True)
    _apply(s, make_event("track", "Product Viewed"))
    t0 = s.row[Slot.DECAY_TS]
    s.decay_to(t0 + 7 * 86400)
    assert s.counter("views_7d") == pytest.approx(math.exp(-1))
    s.decay_to(t0)  # never backwards
    assert s.counter("views_7d") == pytest.approx(math.exp(-1))


@pytest.mark.parametrize(("events", "stage"), [
    (["Product Viewed"], Stage.RESEARCH),
    (["Product Viewed", "Product Added"], Stage.EVALUATION),
    (["Product Added", "Checkout Started"], Stage.PURCHASE),
    (["Checkout Started", "Order Completed"], Stage.DELIVERY),
    (["Order Completed", "Order Delivered"], Stage.USE),
    (["Order Completed", "Support Contacted"], Stage.SUPPORT),
    (["Order Completed", "Order Delivered", "Product Viewed"], Stage.UPSELL),
])
def test_stage_follows_behaviour(make_event, events, stage):
    s = CustomerState("u1", known=True)
    for i, name in enumerate(events):
        _apply(s, make_event("track", name, minute=i, properties={"price": 10}))
    assert s.stage == stage


def test_return_after_a_month_is_retargeting(make_event):
    s = CustomerState("u1", known=True)
    _apply(s, make_event("page", "Home"))
    _apply(s, make_event("page", "Home", minute=45 * 24 * 60))
    assert s.stage == Stage.RETARGETING


def test_order_clears_the_cart_and_counts_revenue(make_event):
    s = CustomerState("u1", known=True)
    _apply(s, make_event("track", "Product Added", properties={"price": 20, "quantity": 3}))
    assert (s.row[Slot.CART_VALUE], s.row[Slot.CART_ITEMS]) == (60, 3)
    _apply(s, make_event("track", "Order Completed", minute=5, properties={"revenue": 55}))
    assert (s.row[Slot.CART_VALUE], s.row[Slot.ORDERS], s.row[Slot.REVENUE]) == (0, 1, 55)


def test_consent_denial_wins_on_merge(make_event):
    anon, known = CustomerState("a", known=False), CustomerState("u", known=True)
    _apply(known, make_event("identify", traits={"consent": {"email": True}}))
    _apply(anon, make_event("track", "Consent Updated", user=None, anon="a",
                            properties={"email": False}))
    known.merge(anon)
    assert not known.consent_granted & 4 and known.consent_denied & 4


def test_pickles_compactly(make_event):
    s = CustomerState("customer-0001", known=True)
    for i, name in enumerate(["Product Viewed", "Product Added", "Checkout Started"]):
        _apply(s, make_event("track", name, minute=i, properties={"price": 10}))
    clone = pickle.loads(pickle.dumps(s))
    assert (clone.row == s.row).all() and clone.stage == s.stage
    assert len(pickle.dumps(s)) < 1024
