"""`apply_event`, pinned: each event type and field changes exactly the slots written here by
hand (named, so a write to the wrong slot shows), from the small catalog in this file.

Channel order (consent bits): web=1, email=2, sms=4, push=8. Categories: running_shoes,
hydration, apparel, then 4 hash buckets (~0..~3).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.catalog import Catalog, parse_catalog
from features.errors import DecodeError
from features.schema import Event
from features.state import WINDOWED, CustomerState, Slot
from features.update import SESSION_GAP, apply_event, consent_changes

T = 1772445600.0  # 2026-03-02T10:00:00Z (winter: Paris is UTC+1)
SUMMER = T + 121 * 86400.0  # 2026-07-01T10:00:00Z (Paris is UTC+2)
DAY = 86400.0
WEB, EMAIL, SMS, PUSH = 1, 2, 4, 8

CATALOG = """\
version: "u"
world:
  categories:
    running_shoes: {label: "Running Shoes", aliases: ["Women > Running > Shoes", "sneakers"]}
    hydration: {}
    apparel: {aliases: ["clothing"]}
  category_buckets: 4
  traits:
    - {name: followers, from: traits.followers, type: numeric}
    - {name: vip, from: traits.vip, type: boolean}
    - {name: plan, from: traits.plan, type: categorical, values: [basic, plus, premium]}
    - {name: loyalty, from: traits.loyalty_tier, type: ordinal, values: [bronze, silver, gold]}
    - {name: nps, from: properties.score, event: Survey Answered, type: numeric}
    - {name: basket, from: properties.basket_size, type: numeric}
    - {name: build, from: context.app.build, type: numeric}
channels:
  web: {cost: 0}
  email: {cost: 0.02, opt_in: true, outbound: true}
  sms: {cost: 0.08, opt_in: true, outbound: true}
  push: {cost: 0.01, opt_in: true, outbound: true}
actions:
  - id: a1
    channels: [web]
    messages: {web: "Hi"}
"""


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return parse_catalog(CATALOG, "u.yaml")


def _ev(kind: str, name: str | None = None, ts: float = T, **fields: Any) -> Event:
    return Event(type=kind, ts=ts, message_id="m", user_id="u1",
                 event=name if kind == "track" else None,
                 name=name if kind in ("page", "screen") else None, **fields)


def _apply(cat: Catalog, state: CustomerState, event: Event) -> str:
    """Apply; return the name of the stage before the event."""
    return cat.lifecycle.stages[apply_event(state, event, cat.layout, cat.lifecycle)]


def _names(cat: Catalog) -> dict[int, str]:
    lay = cat.layout
    out = {v: k for k, v in vars(Slot).items() if k.isupper() and k != "FIXED"}
    world = lay.world
    for i in range(world.n_categories):
        out[lay.affinity + i] = f"affinity:{world.category_id(i)}"
    for block, names in (("channel_sent", world.channels), ("channel_responded", world.channels),
                         ("channel_recent", world.channels), ("kind_sent", world.kinds),
                         ("kind_responded", world.kinds)):
        for i, n in enumerate(names):
            out[getattr(lay, block) + i] = f"{block}:{n}"
    out[lay.discount_sent] = "discount_sent"
    out[lay.discount_responded] = "discount_responded"
    for i in range(6):
        out[lay.hours + i] = f"hours:{i}"
    for i, t in enumerate(world.traits):
        out[lay.traits + i] = f"trait:{t.name}"
    return out


def _row(cat: Catalog, state: CustomerState) -> dict[str, float]:
    """Every non-zero slot outside the windowed counters, by name."""
    names = _names(cat)
    windowed = {b + k for b in cat.layout.windowed.values() for k in range(9)}
    assert len(names) + len(windowed) == cat.layout.n_slots
    return {names[i]: float(v) for i, v in enumerate(state.row) if v != 0 and i not in windowed}


def _counts(cat: Catalog, state: CustomerState, now: float) -> dict[str, float]:
    """Every non-zero windowed count at `now`."""
    return {n: c for n, _ in WINDOWED if (c := cat.layout.count(state, n, now)) != 0}


PAGE = {"FIRST_SEEN": T, "LAST_SEEN": T, "DECAY_TS": T, "SESSION_START": T,
        "SESSION_EVENTS": 1.0, "SESSIONS": 1.0, "hours:2": 1.0}
"""A page view at 10:00 UTC on a new customer (10:00 is in the third 4-hour block)."""
SECOND = {**PAGE, "SESSION_EVENTS": 2.0, "hours:2": 2.0}
"""... and a second event in the same second."""


def _after_page(cat: Catalog) -> CustomerState:
    s = cat.layout.new_state("u1", known=True)
    assert _apply(cat, s, _ev("page", "Home")) == "awareness"
    assert _row(cat, s) == PAGE and s.stage == 0
    return s


# (event name, properties, stage after, slots changed, windowed counts, recent items)
TRACK = [
    ("Product Viewed", {"price": 80, "category": "Running Shoes", "product_id": "p1"},
     "research", {"affinity:running_shoes": 1.0, "VIEWED_PRICE_SUM": 80.0,
                  "VIEWED_PRICE_N": 1.0, "LAST_VIEW_TS": T}, {"views_7d": 1.0},
     {"viewed": ["p1"]}),
    ("Product Clicked", {"price": "12.5", "category": "hydration", "sku": "s9"},
     "research", {"affinity:hydration": 1.0, "VIEWED_PRICE_SUM": 12.5, "VIEWED_PRICE_N": 1.0,
                  "LAST_VIEW_TS": T}, {"views_7d": 1.0}, {"viewed": ["s9"]}),
    ("Product Viewed", {"price": 0, "category": "sneakers", "id": 42}, "research",
     {"affinity:running_shoes": 1.0, "LAST_VIEW_TS": T}, {"views_7d": 1.0},
     {"viewed": ["42"]}),
    ("Product Viewed", {"price": 0.5}, "research", {"VIEWED_PRICE_SUM": 0.5,
                                                    "VIEWED_PRICE_N": 1.0, "LAST_VIEW_TS": T},
     {"views_7d": 1.0}, {}),
    ("Product Viewed", {"price": -3, "product_id": True}, "research", {"LAST_VIEW_TS": T},
     {"views_7d": 1.0}, {}),
    ("Products Searched", {"category": "clothing"}, "research", {"affinity:apparel": 0.5},
     {"searches_7d": 1.0}, {}),
    ("Product List Viewed", {"category": "Women > Running > Shoes > Sale"}, "research",
     {"affinity:running_shoes": 0.5}, {"searches_7d": 1.0}, {}),
    ("Product List Filtered", {}, "research", {}, {"searches_7d": 1.0}, {}),
    ("Product Added", {"price": 30, "quantity": 2, "category": "hydration", "product_id": "p2"},
     "evaluation", {"affinity:hydration": 2.0, "CART_VALUE": 60.0, "CART_ITEMS": 2.0,
                    "LAST_ADD_TS": T}, {"adds_7d": 1.0}, {"added": ["p2"]}),
    ("Product Added", {"price": 30, "sku": ""}, "evaluation",
     {"CART_VALUE": 30.0, "CART_ITEMS": 1.0, "LAST_ADD_TS": T}, {"adds_7d": 1.0}, {}),
    ("Product Added", {"price": -5, "quantity": 2}, "evaluation",
     {"CART_ITEMS": 2.0, "LAST_ADD_TS": T}, {"adds_7d": 1.0}, {}),
    ("Product Added", {"price": 5, "quantity": -2}, "evaluation", {"LAST_ADD_TS": T},
     {"adds_7d": 1.0}, {}),
    ("Product Removed", {"price": 10, "product_id": "p1"}, "evaluation", {}, {}, {}),
    ("Checkout Started", {}, "purchase", {"CHECKOUT_TS": T}, {}, {}),
    ("Order Refunded", {}, "support", {"RETURNS": 1.0}, {"support_30d": 1.0}, {}),
    ("Product Returned", {}, "support", {"RETURNS": 1.0}, {"support_30d": 1.0}, {}),
    ("Support Contacted", {}, "support", {}, {"support_30d": 1.0}, {}),
    ("Ticket Opened", {}, "support", {}, {"support_30d": 1.0}, {}),
    ("Chat Started", {}, "support", {}, {"support_30d": 1.0}, {}),
    ("Product Reviewed", {"rating": 4}, "advocacy", {"RATING_SUM": 4.0, "RATING_N": 1.0}, {},
     {}),
    ("Product Reviewed", {"rating": 5}, "advocacy", {"RATING_SUM": 5.0, "RATING_N": 1.0}, {},
     {}),
    ("Product Reviewed", {"rating": "1"}, "support", {"RATING_SUM": 1.0, "RATING_N": 1.0}, {},
     {}),
    ("Product Reviewed", {"rating": 3}, "awareness", {"RATING_SUM": 3.0, "RATING_N": 1.0}, {},
     {}),
    ("Product Reviewed", {"rating": 0}, "awareness", {}, {}, {}),  # outside 1..5: no rating
    ("Product Reviewed", {"rating": 0.99}, "awareness", {}, {}, {}),
    ("Product Reviewed", {"rating": 5.01}, "awareness", {}, {}, {}),
    ("Product Reviewed", {}, "awareness", {}, {}, {}),
    ("Promotion Viewed", {}, "awareness", {}, {"promo_views_30d": 1.0}, {}),
    ("Promotion Clicked", {}, "awareness", {}, {"promo_clicks_30d": 1.0}, {}),
    ("Coupon Entered", {}, "evaluation", {}, {"coupons_7d": 1.0}, {}),
    ("Coupon Applied", {}, "evaluation", {}, {"coupons_7d": 1.0}, {}),
    ("Product Added to Wishlist", {}, "evaluation", {}, {"wishlist_30d": 1.0}, {}),
    ("Cart Viewed", {"price": 5, "category": "hydration"}, "evaluation", {}, {}, {}),
    ("Survey Answered", {"score": 9}, "awareness", {"trait:nps": 9.0}, {}, {}),
]


@pytest.mark.parametrize(("name", "props", "stage", "changed", "counts", "items"), TRACK)
def test_each_track_event_changes_exactly_its_slots(cat, name, props, stage, changed, counts,
                                                    items):
    s = _after_page(cat)
    assert _apply(cat, s, _ev("track", name, properties=props)) == "awareness"
    assert cat.lifecycle.stages[s.stage] == stage
    since = {} if stage == "awareness" else {"STAGE_SINCE": T}
    assert _row(cat, s) == {**SECOND, **since, **changed}
    assert _counts(cat, s, T) == counts
    assert {k: getattr(s, k) for k in ("viewed", "added", "bought") if getattr(s, k)} == items


# the row of a customer who added two items: p1 (2 × 30) and p2 (1 × 10), at T
CART = {**PAGE, "SESSION_EVENTS": 3.0, "hours:2": 3.0, "STAGE_SINCE": T, "CART_VALUE": 70.0,
        "CART_ITEMS": 3.0, "LAST_ADD_TS": T}


def _with_cart(cat: Catalog) -> CustomerState:
    s = _after_page(cat)
    _apply(cat, s, _ev("track", "Product Added",
                       properties={"product_id": "p1", "price": 30, "quantity": 2}))
    _apply(cat, s, _ev("track", "Product Added", properties={"product_id": "p2", "price": 10}))
    assert _row(cat, s) == CART and s.added == ["p1", "p2"]
    return s


@pytest.mark.parametrize(("props", "cart", "added"), [
    ({"product_id": "p1", "price": 30, "quantity": 1}, (40.0, 2.0), ["p2"]),
    ({"product_id": "p2", "price": 10}, (60.0, 2.0), ["p1"]),
    ({"product_id": "zz", "price": 100, "quantity": 5}, (0.0, 0.0), ["p1", "p2"]),  # clamped
    ({"price": -10, "quantity": 1}, (70.0, 2.0), ["p1", "p2"]),  # a negative amount: no change
    ({"price": 10, "quantity": -1}, (70.0, 3.0), ["p1", "p2"]),
    ({"price": 4}, (66.0, 2.0), ["p1", "p2"]),  # quantity defaults to 1
    ({"quantity": 2}, (70.0, 1.0), ["p1", "p2"]),  # price defaults to 0
    ({"sku": "p2", "price": 10}, (60.0, 2.0), ["p1"]),
])
def test_product_removed(cat, props, cart, added):
    s = _with_cart(cat)
    _apply(cat, s, _ev("track", "Product Removed", properties=props))
    row = {**CART, "SESSION_EVENTS": 4.0, "hours:2": 4.0, "CART_VALUE": cart[0],
           "CART_ITEMS": cart[1]}
    assert _row(cat, s) == {k: v for k, v in row.items() if v != 0}
    assert s.added == added and _counts(cat, s, T) == {"adds_7d": 2.0}


ORDER = {"FIRST_ORDER_TS": T, "LAST_ORDER_TS": T, "ORDERS": 1.0, "SESSION_EVENTS": 5.0,
         "hours:2": 5.0}


@pytest.mark.parametrize(("props", "revenue", "affinity", "bought"), [
    ({"revenue": 99.5, "total": 120, "products": [
        {"product_id": "b1", "category": "hydration"},
        {"sku": "b2", "category": "Running Shoes"}, "junk", {"category": "Garden"}]},
     99.5, {"affinity:hydration": 3.0, "affinity:running_shoes": 3.0, "affinity:~3": 3.0},
     ["b1", "b2"]),
    ({"total": "120"}, 120.0, {}, ["p1", "p2"]),  # no revenue: total; no products: the cart
    ({}, 70.0, {}, ["p1", "p2"]),  # neither: the cart's value
    ({"revenue": -20}, 0.0, {}, ["p1", "p2"]),
    ({"revenue": 0, "products": "p9"}, 0.0, {}, ["p1", "p2"]),
    ({"revenue": 10, "products": [{"category": "apparel"}]}, 10.0, {"affinity:apparel": 3.0},
     ["p1", "p2"]),  # products without ids: the cart's items
])
def test_order_completed(cat, props, revenue, affinity, bought):
    s = _with_cart(cat)
    _apply(cat, s, _ev("track", "Checkout Started"))
    assert s.row[Slot.CHECKOUT_TS] == T
    assert _apply(cat, s, _ev("track", "Order Completed", properties=props)) == "purchase"
    assert cat.lifecycle.stages[s.stage] == "delivery"
    expected = {**CART, **ORDER, "REVENUE": revenue, **affinity}
    for cleared in ("CART_VALUE", "CART_ITEMS"):
        del expected[cleared]
    assert _row(cat, s) == {k: v for k, v in expected.items() if v != 0}
    assert _counts(cat, s, T) == {"adds_7d": 2.0, "orders_90d": 1.0}
    assert s.bought == bought and s.added == []


def test_a_second_order_keeps_the_first_order_time(cat):
    s = _after_page(cat)
    _apply(cat, s, _ev("track", "Order Completed", properties={"revenue": 50}))
    assert s.bought == []  # no products, nothing in the cart
    _apply(cat, s, _ev("track", "Order Completed", ts=T + DAY, properties={"revenue": 25}))
    r = s.row
    assert (r[Slot.ORDERS], r[Slot.REVENUE], r[Slot.FIRST_ORDER_TS], r[Slot.LAST_ORDER_TS]) == (
        2.0, 75.0, T, T + DAY)
    assert _counts(cat, s, T + DAY) == {"orders_90d": 2.0}


def test_counters_accumulate(cat):
    s = _after_page(cat)
    for name, props in [
        ("Product Viewed", {"category": "hydration", "price": 10}),
        ("Product Viewed", {"category": "hydration", "price": 30}),
        ("Products Searched", {"category": "hydration"}),
        ("Product Added", {"category": "hydration", "price": 5}),
        ("Product Added", {"category": "hydration", "price": 7, "quantity": 3}),
        ("Order Refunded", {}),
        ("Product Returned", {}),
        ("Product Reviewed", {"rating": 4}),
        ("Product Reviewed", {"rating": 2}),
        ("Order Completed", {"revenue": 26, "products": [
            {"category": "hydration", "product_id": "h1"},
            {"category": "hydration", "product_id": "h2"}]}),
    ]:
        _apply(cat, s, _ev("track", name, properties=props))
    assert _row(cat, s) == {
        **PAGE, "SESSION_EVENTS": 11.0, "hours:2": 11.0, "STAGE_SINCE": T,
        "affinity:hydration": 1 + 1 + 0.5 + 2 + 2 + 3 + 3, "VIEWED_PRICE_SUM": 40.0,
        "VIEWED_PRICE_N": 2.0, "LAST_VIEW_TS": T, "LAST_ADD_TS": T, "RETURNS": 2.0,
        "RATING_SUM": 6.0, "RATING_N": 2.0, "ORDERS": 1.0, "REVENUE": 26.0,
        "FIRST_ORDER_TS": T, "LAST_ORDER_TS": T}
    assert _counts(cat, s, T) == {"views_7d": 2.0, "searches_7d": 1.0, "adds_7d": 2.0,
                                  "support_30d": 2.0, "orders_90d": 1.0}
    assert s.bought == ["h1", "h2"] and cat.lifecycle.stages[s.stage] == "delivery"


def test_a_track_name_is_read_only_from_track_calls(cat):
    # an Event built in-process with another type and an event name (the decoder sets
    # `event` on track calls only): neither traits nor the lifecycle read that name
    s = cat.layout.new_state("u1", known=True)
    ev = Event(type="page", ts=T, message_id="m", user_id="u1", event="Survey Answered",
               properties={"score": 9})
    apply_event(s, ev, cat.layout, cat.lifecycle)
    ev = Event(type="page", ts=T, message_id="m", user_id="u1", event="Product Viewed")
    apply_event(s, ev, cat.layout, cat.lifecycle)
    assert s.row[cat.layout.trait_index["nps"]] == 0.0 and s.stage == 0


def test_recent_items_are_bounded_newest_last(cat):
    s = _after_page(cat)
    for i in range(10):
        _apply(cat, s, _ev("track", "Product Viewed", properties={"product_id": f"p{i}"}))
    assert s.viewed == [f"p{i}" for i in range(2, 10)]
    _apply(cat, s, _ev("track", "Product Viewed", properties={"product_id": "p5"}))
    assert s.viewed == ["p2", "p3", "p4", "p6", "p7", "p8", "p9", "p5"]
    _apply(cat, s, _ev("track", "Product Viewed", properties={"product_id": "x" * 100}))
    assert s.viewed[-1] == "x" * 64 and len(s.viewed) == 8
    for props in ({"product_id": None, "sku": "s1"}, {"product_id": ""}, {"id": 4.5}):
        _apply(cat, s, _ev("track", "Product Viewed", properties=props))
        assert s.viewed[-1] == "x" * 64  # not an item id: nothing remembered
    _apply(cat, s, _ev("track", "Product Viewed", properties={"sku": 7, "id": "i"}))
    assert s.viewed[-1] == "7"  # product_id, else sku, else id
    assert _counts(cat, s, T) == {"views_7d": 16.0}


@pytest.mark.parametrize(("raw", "index"), [
    ("running_shoes", "running_shoes"),  # declared id
    ("Running Shoes", "running_shoes"),  # label
    ("sneakers", "running_shoes"),  # alias
    ("Women/Running/Shoes", "running_shoes"),  # alias as a path with other separators
    ("Women > Running > Shoes > Sale", "running_shoes"),  # the declared ancestor
    ("Sale > Hydration", "hydration"),  # a declared leaf
    ("Garden", "~3"),  # undeclared: blake2b-64 of "garden", big-endian, mod 4
    ("Garden > Tools", "~0"),
    ("Toys", "~1"),
    (None, None),
    (7, None),
    ("  ", None),
])
def test_category_mapping(cat, raw, index):
    s = _after_page(cat)
    _apply(cat, s, _ev("track", "Product Added", properties={"category": raw}))
    affinity = {k: v for k, v in _row(cat, s).items() if k.startswith("affinity:")}
    assert affinity == ({} if index is None else {f"affinity:{index}": 2.0})


@pytest.mark.parametrize(("kind", "name", "fields", "granted", "denied"), [
    ("identify", None, {"traits": {"consent": {"email": True, "sms": False, "fax": True,
                                               "push": "yes"}}}, EMAIL, SMS),
    ("identify", None, {"context": {"consent": {"categoryPreferences": {"email": True,
                                                                       "web": False}}}},
     EMAIL, WEB),
    ("identify", None, {"context": {"consent": {"email": True}}}, 0, 0),  # not Segment's shape
    ("identify", None, {"traits": {"consent": {"email": True}},
                        "context": {"consent": {"categoryPreferences": {"email": False}}}},
     0, EMAIL),  # Segment's context is read after the traits
    ("track", "Consent Updated", {"properties": {"consent": {"sms": True}}}, SMS, 0),
    ("track", "Consent Updated", {"properties": {"push": True, "email": False}}, PUSH, EMAIL),
    ("track", "Consent Updated", {"properties": {"consent": {"sms": True}, "sms": False}}, 0,
     SMS),  # flat properties are read last
    ("track", "Segment Consent Preference Updated", {"properties": {"email": True}}, EMAIL, 0),
    ("track", "Product Viewed", {"properties": {"email": True, "consent": {"sms": True}}}, 0, 0),
    ("track", "Product Viewed", {"traits": {"consent": {"push": True}}}, PUSH, 0),
    ("track", "Product Viewed",
     {"context": {"consent": {"categoryPreferences": {"sms": True}}}}, SMS, 0),
    ("page", "Home", {"traits": {"consent": {"email": True}}}, EMAIL, 0),  # any call
    ("page", "Home", {"context": {"consent": {"categoryPreferences": {"sms": False}}}}, 0, SMS),
    ("screen", "Cart", {"context": {"consent": {"categoryPreferences": {"push": True}}}},
     PUSH, 0),
    ("identify", None, {"traits": {"consent": "all"}}, 0, 0),
])
def test_consent_from_each_source(cat, kind, name, fields, granted, denied):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev(kind, name, **fields))
    assert (s.consent_granted, s.consent_denied) == (granted, denied)


def test_a_grant_clears_a_denial_and_back(cat):
    s = cat.layout.new_state("u1", known=True)
    s.consent_granted, s.consent_denied = WEB | PUSH, EMAIL | SMS
    _apply(cat, s, _ev("identify", traits={"consent": {"email": True, "push": False}}))
    assert (s.consent_granted, s.consent_denied) == (WEB | EMAIL, SMS | PUSH)
    _apply(cat, s, _ev("identify", traits={"consent": {"email": False, "sms": True}}))
    assert (s.consent_granted, s.consent_denied) == (WEB | SMS, EMAIL | PUSH)


def test_consent_changes_without_a_channel_list_reads_any_name():
    ev = _ev("track", "Consent Updated", properties={"fax": True, "email": False, "n": 1},
             traits={"consent": {"pigeon": True}})
    assert consent_changes(ev) == {"pigeon": True, "fax": True, "email": False}
    assert consent_changes(ev, ("email", "web")) == {"email": False}


@pytest.mark.parametrize(("kind", "context", "device"), [
    ("track", {"device": {"type": "mobile"}}, 2.0),
    ("track", {"device": {"type": "Desktop"}}, 1.0),
    ("track", {"device": {"type": "ios"}}, 2.0),
    ("track", {"device": {"type": "android"}}, 2.0),
    ("track", {"device": {"type": "tablet"}}, 3.0),
    ("track", {"device": {"type": "iPad"}}, 3.0),
    ("track", {"device": {"type": "tv"}}, 1.0),
    ("track", {"device": {"type": "tablet"}, "os": {"name": "iOS"}}, 3.0),  # device first
    ("track", {"device": {"type": 5}, "os": {"name": "iOS"}}, 2.0),
    ("track", {"device": "phone", "os": {"name": "Android"}}, 2.0),
    ("track", {"os": {"name": "Mac OS X"}}, 1.0),
    ("track", {"os": "linux", "userAgent": "Mozilla/5.0 (iPhone) Mobile/15E148"}, 2.0),
    ("track", {"os": {"name": 3}, "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"}, 1.0),
    ("page", {"userAgent": "Mozilla/5.0 (Linux; Android 14) Mobile Safari"}, 2.0),
    ("screen", {}, 2.0),  # a screen call is an app: mobile
    ("screen", {"device": {"type": "tablet"}}, 3.0),
    ("page", {}, 0.0),  # nothing says: unknown
    ("track", {"userAgent": 7}, 0.0),
])
def test_device(cat, kind, context, device):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev(kind, "X", context=context))
    assert s.row[Slot.DEVICE] == device


def test_device_is_kept_when_an_event_does_not_say(cat):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev("track", "X", context={"device": {"type": "tablet"}}))
    _apply(cat, s, _ev("page", "Home"))
    assert s.row[Slot.DEVICE] == 3.0


@pytest.mark.parametrize(("tz", "ts", "offset", "block"), [
    ("Europe/Paris", T, 1.0, 2),  # 11:00 local
    ("Europe/Paris", SUMMER, 2.0, 3),  # 12:00 local, summer time
    ("Asia/Kolkata", T, 5.5, 3),  # 15:30
    ("America/Los_Angeles", T, -8.0, 0),  # 02:00
    ("America/Los_Angeles", T - 2 * 3600, -8.0, 0),  # 00:00
    ("America/Los_Angeles", T - 3 * 3600, -8.0, 5),  # 23:00 the day before
    ("Asia/Tokyo", T, 9.0, 4),  # 19:00
    ("UTC", T + 2 * 3600, 0.0, 3),  # 12:00
    ("UTC", T - 6 * 3600, 0.0, 1),  # 04:00
    ("UTC", T - 6 * 3600 - 1, 0.0, 0),  # 03:59:59
])
def test_time_zone_sets_the_offset_and_the_local_hour_block(cat, tz, ts, offset, block):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev("page", "Home", ts=ts, context={"timezone": tz}))
    assert s.row[Slot.TZ_OFFSET_H] == offset
    assert {k: v for k, v in _row(cat, s).items() if k.startswith("hours:")} == {
        f"hours:{block}": 1.0}


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", 5, None, "../etc/passwd", "/abs"])
def test_an_unknown_time_zone_keeps_the_offset(cat, tz):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev("page", "Home", context={"timezone": "Asia/Kolkata"}))
    _apply(cat, s, _ev("track", "X", context={"timezone": tz}))
    assert s.row[Slot.TZ_OFFSET_H] == 5.5


@pytest.mark.parametrize(("kind", "traits", "context", "region", "first_name"), [
    ("identify", {"region": "Île-de-France", "firstName": "Ada"}, {}, "Île-de-France", "Ada"),
    ("identify", {"first_name": "Grace"}, {}, None, "Grace"),
    ("identify", {"firstName": "Ada", "first_name": "Grace"}, {}, None, "Ada"),
    ("identify", {"firstName": "", "region": ""}, {}, None, None),
    ("identify", {"firstName": 7, "region": 7}, {}, None, None),
    ("identify", {"firstName": "N" * 50, "region": "R" * 50}, {}, "R" * 40, "N" * 40),
    ("track", {"firstName": "Ada", "region": "Bavaria"}, {}, None, None),  # identify only
    ("track", {}, {"location": {"region": "Bavaria", "country": "DE"}}, "Bavaria", None),
    ("page", {}, {"location": {"country": "DE"}}, "DE", None),
    ("page", {}, {"location": {"region": "", "country": "FR"}}, "FR", None),
    ("page", {}, {"location": {"region": 3}}, None, None),
    ("page", {}, {"location": "Paris"}, None, None),
    ("page", {}, {"location": {"city": "C" * 50, "country": "C" * 50}}, "C" * 40, None),
    ("identify", {"region": "Bavaria"}, {"location": {"country": "FR"}}, "FR", None),
])
def test_region_and_first_name(cat, kind, traits, context, region, first_name):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev(kind, "X", traits=traits, context=context))
    assert (s.region, s.first_name) == (region, first_name)


@pytest.mark.parametrize(("kind", "name", "fields", "trait", "value"), [
    ("identify", None, {"traits": {"followers": 99}}, "followers", 99.0),
    ("identify", None, {"traits": {"followers": "12.5"}}, "followers", 12.5),
    ("identify", None, {"traits": {"followers": -5}}, "followers", -5.0),
    ("identify", None, {"traits": {"followers": 1e12}}, "followers", 1e12),
    ("identify", None, {"traits": {"followers": -1e12}}, "followers", -1e12),
    ("identify", None, {"traits": {"followers": 2e12}}, "followers", None),
    ("identify", None, {"traits": {"followers": "many"}}, "followers", None),
    ("identify", None, {"traits": {"followers": "nan"}}, "followers", None),
    ("identify", None, {"traits": {"followers": True}}, "followers", None),
    ("identify", None, {"traits": {"followers": [1]}}, "followers", None),
    ("identify", None, {"traits": {"vip": True}}, "vip", 1.0),
    ("identify", None, {"traits": {"vip": False}}, "vip", 0.0),
    ("identify", None, {"traits": {"vip": "yes"}}, "vip", None),
    ("identify", None, {"traits": {"vip": 1}}, "vip", None),
    ("identify", None, {"traits": {"plan": "basic"}}, "plan", 1.0),
    ("identify", None, {"traits": {"plan": " Premium "}}, "plan", 3.0),
    ("identify", None, {"traits": {"plan": "gold"}}, "plan", None),
    ("identify", None, {"traits": {"plan": 2}}, "plan", None),
    ("identify", None, {"traits": {"loyalty_tier": "SILVER"}}, "loyalty", 2.0),
    ("identify", None, {"traits": {"loyalty": "gold"}}, "loyalty", None),  # reads loyalty_tier
    ("track", "X", {"traits": {"loyalty_tier": "gold"}}, "loyalty", 3.0),  # traits of any call
    ("track", "Survey Answered", {"properties": {"score": 9}}, "nps", 9.0),
    ("track", "Product Viewed", {"properties": {"score": 9}}, "nps", None),  # another event
    ("page", "Survey Answered", {"properties": {"score": 9}}, "nps", None),  # not a track
    ("page", "Home", {"properties": {"basket_size": 3}}, "basket", 3.0),  # no event filter
    ("track", "Product Added", {"properties": {"basket_size": "4"}}, "basket", 4.0),
    ("screen", "Home", {"context": {"app": {"build": 120}}}, "build", 120.0),
    ("screen", "Home", {"context": {"app": "120"}}, "build", None),
    ("screen", "Home", {"context": {"app": {"version": "1.2"}}}, "build", None),
    ("identify", None, {"traits": {"app": {"build": 9}}}, "build", None),  # context only
])
def test_declared_traits(cat, kind, name, fields, trait, value):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev(kind, name, **fields))
    traits = {k[6:]: v for k, v in _row(cat, s).items() if k.startswith("trait:")}
    if value == 0.0:  # a zero slot is not listed by _row
        assert s.row[cat.layout.trait_index[trait]] == 0.0 and traits == {}
    else:
        assert traits == ({} if value is None else {trait: value})


def test_a_trait_keeps_its_value_until_a_fitting_one_comes(cat):
    s = cat.layout.new_state("u1", known=True)
    slot = cat.layout.trait_index["plan"]
    for plan, value in (("plus", 2.0), ("gold", 2.0), ("basic", 1.0)):
        _apply(cat, s, _ev("identify", traits={"plan": plan}))
        assert s.row[slot] == value


def test_sessions_split_after_30_minutes_of_inactivity(cat):
    assert SESSION_GAP == 1800.0
    s = _after_page(cat)
    _apply(cat, s, _ev("page", "A", ts=T + 1800))  # exactly 30 min: same session
    r = s.row
    assert (r[Slot.SESSIONS], r[Slot.SESSION_START], r[Slot.SESSION_EVENTS],
            r[Slot.PREV_SESSION_START], r[Slot.LAST_SEEN]) == (1.0, T, 2.0, 0.0, T + 1800)
    _apply(cat, s, _ev("page", "B", ts=T + 3601))  # 30 min 1 s later: a new session
    assert (r[Slot.SESSIONS], r[Slot.SESSION_START], r[Slot.SESSION_EVENTS],
            r[Slot.PREV_SESSION_START], r[Slot.LAST_SEEN]) == (2.0, T + 3601, 1.0, T, T + 3601)
    _apply(cat, s, _ev("page", "C", ts=T + 60))  # late: counts in the session, keeps last seen
    assert (r[Slot.SESSIONS], r[Slot.SESSION_EVENTS], r[Slot.LAST_SEEN],
            r[Slot.FIRST_SEEN]) == (2.0, 2.0, T + 3601, T)


def test_decay_and_late_events_count_at_the_latest_time_seen(cat):
    s = _after_page(cat)
    _apply(cat, s, _ev("track", "Product Viewed", properties={"price": 80,
                                                              "category": "hydration"}))
    later = T + 30 * DAY
    assert _apply(cat, s, _ev("track", "Product Viewed", ts=later, properties={
        "price": 20, "category": "hydration"})) == "research"
    e = math.exp(-1.0)  # 30 days on the 30-day affinity time constant
    r = s.row
    assert r[Slot.DECAY_TS] == later
    assert r[cat.layout.affinity + 1] == pytest.approx(e + 1.0, rel=1e-12)
    assert r[Slot.VIEWED_PRICE_SUM] == pytest.approx(80 * e + 20, rel=1e-12)
    assert r[Slot.VIEWED_PRICE_N] == pytest.approx(e + 1.0, rel=1e-12)
    # a late view (8 h before the first): no decay backwards, its own hour block, the ring
    # of the 7-day counter no longer holds it
    assert _apply(cat, s, _ev("track", "Products Searched", ts=T - 8 * 3600, properties={
        "category": "hydration"})) == "research"
    assert r[Slot.DECAY_TS] == later
    assert r[cat.layout.affinity + 1] == pytest.approx(e + 1.5, rel=1e-12)
    assert r[cat.layout.hours + 0] == 1.0  # 02:00 UTC
    assert _counts(cat, s, later) == {"views_7d": 1.0}
    assert r[Slot.LAST_SEEN] == later and r[Slot.STAGE_SINCE] == T


def test_stage_inputs_orders_last_seen_and_late_time(cat):
    s = _after_page(cat)
    _apply(cat, s, _ev("track", "Order Completed"))
    assert cat.lifecycle.stages[s.stage] == "delivery"
    _apply(cat, s, _ev("track", "Product Viewed", ts=T + 60))  # an owner browsing: upsell
    assert cat.lifecycle.stages[s.stage] == "upsell" and s.row[Slot.STAGE_SINCE] == T + 60
    # back after more than 30 days away (measured from the previous event): retargeting
    assert _apply(cat, s, _ev("page", "Home", ts=T + 60 + 30 * DAY + 1)) == "upsell"
    assert cat.lifecycle.stages[s.stage] == "retargeting"
    assert s.row[Slot.STAGE_SINCE] == T + 60 + 30 * DAY + 1
    s2 = _after_page(cat)
    _apply(cat, s2, _ev("page", "Home", ts=T + 30 * DAY))  # exactly 30 days: not yet
    assert s2.stage == 0 and s2.row[Slot.STAGE_SINCE] == 0.0
    # a late event moving the stage stamps the latest time seen
    _apply(cat, s2, _ev("track", "Product Viewed", ts=T + DAY))
    assert cat.lifecycle.stages[s2.stage] == "research"
    assert s2.row[Slot.STAGE_SINCE] == T + 30 * DAY


@pytest.mark.parametrize(("kind", "name", "props", "reason", "message"), [
    ("track", "Product Viewed", {"price": True}, "wrong_type",
     "properties.price must be a number, got bool"),
    ("track", "Product Viewed", {"price": "abc"}, "wrong_type",
     "properties.price must be a number, got 'abc'"),
    ("track", "Product Viewed", {"price": "y" * 30}, "wrong_type",
     f"properties.price must be a number, got '{'y' * 20}'"),
    ("track", "Product Added", {"quantity": [1]}, "wrong_type",
     "properties.quantity must be a number, got list"),
    ("track", "Order Completed", {"revenue": "nan"}, "wrong_type",
     "properties.revenue must be finite"),
    ("track", "Order Completed", {"total": "inf"}, "wrong_type",
     "properties.total must be finite"),
    ("track", "Promotion Viewed", {"price": float("-inf")}, "wrong_type",
     "properties.price must be finite"),
    ("track", "Product Viewed", {"price": 2e9}, "out_of_range",
     "properties.price=2e+09 is beyond ±1e+09 (not a real amount)"),
    ("track", "Product Viewed", {"price": -1_000_000_001}, "out_of_range",
     "properties.price=-1e+09 is beyond ±1e+09 (not a real amount)"),
    ("track", "Product Reviewed", {"rating": "good"}, "wrong_type",
     "properties.rating must be a number, got 'good'"),
    ("track", "Product Reviewed", {"rating": {}}, "wrong_type",
     "properties.rating must be a number, got dict"),
])
def test_poison_amounts_are_rejected_before_anything_changes(cat, kind, name, props, reason,
                                                             message):
    s = _with_cart(cat)
    row, lists = s.row.copy(), (list(s.viewed), list(s.added), s.stage, s.consent_granted)
    props = {**props, "product_id": "p9"}
    with pytest.raises(DecodeError) as e:
        _apply(cat, s, _ev(kind, name, ts=T + DAY, properties=props,
                           traits={"consent": {"email": True}}))
    assert (e.value.reason, str(e.value)) == (reason, message)
    assert (s.row == row).all()
    assert (list(s.viewed), list(s.added), s.stage, s.consent_granted) == lists


@pytest.mark.parametrize(("kind", "name", "props"), [
    ("track", "Product Viewed", {"price": 1e9, "quantity": -1e9}),  # the bounds themselves
    ("track", "Product Viewed", {"price": None, "rating": "bad"}),  # rating: reviews only
    ("page", "Home", {"price": "abc", "revenue": float("nan")}),  # amounts: track only
])
def test_amounts_that_are_accepted(cat, kind, name, props):
    s = cat.layout.new_state("u1", known=True)
    _apply(cat, s, _ev(kind, name, properties=props))
    assert s.row[Slot.SESSIONS] == 1.0
