"""Per-customer state: windowed and decayed counters on event time, merge, stage, pickling."""

from __future__ import annotations

import math
import pickle

import orjson
import pytest

from engine.catalog import Catalog
from features.decode import decode
from features.stage import Stage
from features.state import CustomerState, Slot
from features.update import apply_event

DAY = 86400.0


def _apply(catalog: Catalog, state: CustomerState, ev: dict) -> None:
    apply_event(state, decode(orjson.dumps(ev)), catalog.layout, catalog.lifecycle)


def _new(catalog: Catalog, customer_id: str = "u1", *, known: bool = True) -> CustomerState:
    return catalog.layout.new_state(customer_id, known=known)


def test_rule_counters_are_windowed_counts_in_human_units(catalog, make_event):
    """One view counts as exactly 1 for its whole 7-day window (then at most one daily bucket
    longer), whatever the wall clock; it was exp(-1) at 7 days when counters were decayed."""
    s = _new(catalog)
    _apply(catalog, s, make_event("track", "Product Viewed", properties={"category": "shoes"}))
    t0 = s.row[Slot.LAST_SEEN]  # 2026-03-02T00:00Z, the start of a daily bucket
    views = catalog.rules.index["views_7d"]
    for dt in (0.0, 3 * DAY, 7 * DAY, 8 * DAY - 1):
        assert catalog.layout.count(s, "views_7d", t0 + dt) == 1.0
        assert catalog.rules.values(s, t0 + dt)[views] == 1.0
    assert catalog.layout.count(s, "views_7d", t0 + 8 * DAY) == 0.0
    assert catalog.rules.values(s, t0 + 30 * DAY)[views] == 0.0


def test_affinity_decays_by_event_time_not_wall_clock(catalog, make_event):
    """Category affinity (and response history) stay exponentially decayed on event time."""
    lay = catalog.layout
    s = _new(catalog)
    _apply(catalog, s, make_event("track", "Product Viewed", properties={"category": "shoes"}))
    t0 = s.row[Slot.DECAY_TS]
    shoes = lay.affinity - lay.decay_lo + catalog.world.category_of("shoes")
    assert lay.decayed(s, t0 + 30 * DAY)[shoes] == pytest.approx(math.exp(-1))
    assert s.row[lay.affinity + catalog.world.category_of("shoes")] == 1.0  # not mutated
    lay.decay_to(s, t0 + 30 * DAY)
    assert s.row[lay.affinity + catalog.world.category_of("shoes")] == pytest.approx(math.exp(-1))
    lay.decay_to(s, t0)  # never backwards
    assert s.row[lay.affinity + catalog.world.category_of("shoes")] == pytest.approx(math.exp(-1))


def test_a_late_event_counts_in_its_own_window(catalog, make_event):
    s = _new(catalog)
    _apply(catalog, s, make_event("track", "Product Viewed", minute=5 * 24 * 60))
    _apply(catalog, s, make_event("track", "Product Viewed", minute=0))  # five days late
    t0 = s.row[Slot.LAST_SEEN] - 5 * DAY
    assert catalog.layout.count(s, "views_7d", t0 + 5 * DAY) == 2.0
    assert catalog.layout.count(s, "views_7d", t0 + 8 * DAY) == 1.0  # the late one left first
    assert catalog.layout.count(s, "views_7d", t0 + 13 * DAY) == 0.0


@pytest.mark.parametrize(("events", "stage"), [
    (["Product Viewed"], Stage.RESEARCH),
    (["Product Viewed", "Product Added"], Stage.EVALUATION),
    (["Product Added", "Checkout Started"], Stage.PURCHASE),
    (["Checkout Started", "Order Completed"], Stage.DELIVERY),
    (["Order Completed", "Order Delivered"], Stage.USE),
    (["Order Completed", "Support Contacted"], Stage.SUPPORT),
    (["Order Completed", "Order Delivered", "Product Viewed"], Stage.UPSELL),
])
def test_stage_follows_behaviour(catalog, make_event, events, stage):
    s = _new(catalog)
    for i, name in enumerate(events):
        _apply(catalog, s, make_event("track", name, minute=i, properties={"price": 10}))
    assert s.stage == int(stage)  # an index into the lifecycle's stages
    assert catalog.lifecycle.stages[s.stage] == stage.label


def test_return_after_a_month_is_retargeting(catalog, make_event):
    s = _new(catalog)
    _apply(catalog, s, make_event("page", "Home"))
    _apply(catalog, s, make_event("page", "Home", minute=45 * 24 * 60))
    assert catalog.lifecycle.label(s.stage) == "retargeting"


def test_order_clears_the_cart_and_counts_revenue(catalog, make_event):
    s = _new(catalog)
    _apply(catalog, s, make_event("track", "Product Added",
                                  properties={"price": 20, "quantity": 3}))
    assert (s.row[Slot.CART_VALUE], s.row[Slot.CART_ITEMS]) == (60, 3)
    _apply(catalog, s, make_event("track", "Order Completed", minute=5,
                                  properties={"revenue": 55}))
    assert (s.row[Slot.CART_VALUE], s.row[Slot.ORDERS], s.row[Slot.REVENUE]) == (0, 1, 55)


def test_consent_denial_wins_on_merge(catalog, make_event):
    anon, known = _new(catalog, "a", known=False), _new(catalog, "u")
    _apply(catalog, known, make_event("identify", traits={"consent": {"email": True}}))
    _apply(catalog, anon, make_event("track", "Consent Updated", user=None, anon="a",
                                     properties={"email": False}))
    email = 1 << catalog.world.channels.index("email")  # bits follow the catalog's channels
    assert known.consent_granted & email
    catalog.layout.merge(known, anon)
    assert not known.consent_granted & email and known.consent_denied & email


def test_merge_adds_windowed_counts_and_keeps_the_live_cart(catalog, make_event):
    anon, known = _new(catalog, "a", known=False), _new(catalog, "u")
    _apply(catalog, known, make_event("track", "Product Viewed", minute=0))
    for m in (60, 61):
        _apply(catalog, anon, make_event("track", "Product Viewed", user=None, anon="a",
                                         minute=m))
    _apply(catalog, anon, make_event("track", "Product Added", user=None, anon="a", minute=62,
                                     properties={"price": 15, "quantity": 2}))
    catalog.layout.merge(known, anon)
    t0 = known.row[Slot.FIRST_SEEN]
    assert catalog.layout.count(known, "views_7d", t0 + DAY) == 3.0
    assert catalog.layout.count(known, "adds_7d", t0 + DAY) == 1.0
    assert (known.row[Slot.CART_VALUE], known.row[Slot.CART_ITEMS]) == (30, 2)
    assert known.stage == int(Stage.EVALUATION)  # the anonymous session is the live one


def test_pickles_compactly(catalog, make_event):
    """The row grew with the declared world (windowed counters, per-channel and per-kind
    history); beside it the state holds only small containers."""
    s = _new(catalog, "customer-0001")
    for i, name in enumerate(["Product Viewed", "Product Added", "Checkout Started"]):
        _apply(catalog, s, make_event("track", name, minute=i, properties={"price": 10}))
    clone = pickle.loads(pickle.dumps(s))
    assert (clone.row == s.row).all() and clone.stage == s.stage
    assert s.row.shape == (catalog.layout.n_slots,)
    assert len(pickle.dumps(s)) < s.row.nbytes + 512
    assert len(pickle.dumps(s)) < 2048
