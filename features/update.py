"""Apply one validated event to a customer's state (features, consent, profile, stage).

What a category string, a channel name or a trait means comes from the catalog's declared
world, through the state's `Layout`.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from features.errors import DecodeError
from features.schema import Event
from features.stage import Lifecycle
from features.state import HOUR_BLOCKS, CustomerState, Layout, Slot

__all__ = ["SESSION_GAP", "apply_event", "consent_changes"]

SESSION_GAP = 30 * 60.0
"""Seconds of inactivity that end a session (Segment/GA convention)."""

_DEVICE = {"desktop": 1.0, "mobile": 2.0, "ios": 2.0, "android": 2.0, "tablet": 3.0, "ipad": 3.0}
MAX_MAGNITUDE = 1e9
"""Largest absolute value a numeric property may carry (prices, quantities, revenue)."""
_CONSENT_EVENTS = frozenset({"Consent Updated", "Segment Consent Preference Updated"})


def _num(props: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = props.get(key)
    if v is None:
        return default
    if isinstance(v, bool):
        msg = f"properties.{key} must be a number, got bool"
        raise DecodeError(msg, reason="wrong_type")
    if isinstance(v, int | float):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v)
        except ValueError as e:
            msg = f"properties.{key} must be a number, got {v[:20]!r}"
            raise DecodeError(msg, reason="wrong_type") from e
    else:
        msg = f"properties.{key} must be a number, got {type(v).__name__}"
        raise DecodeError(msg, reason="wrong_type")
    if f != f or f in (float("inf"), float("-inf")):
        msg = f"properties.{key} must be finite"
        raise DecodeError(msg, reason="wrong_type")
    if abs(f) > MAX_MAGNITUDE:
        msg = f"properties.{key}={f:.3g} is beyond ±{MAX_MAGNITUDE:.0e} (not a real amount)"
        raise DecodeError(msg, reason="out_of_range")
    return f


def _item_id(props: dict[str, Any]) -> str | None:
    v = props.get("product_id", props.get("sku", props.get("id")))
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v if isinstance(v, str) and v else None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _tz_offset_hours(tz: Any, ts: float) -> float | None:
    if not isinstance(tz, str) or not tz:
        return None
    zone = _zone(tz)
    if zone is None:
        return None
    off = datetime.fromtimestamp(ts, zone).utcoffset()
    return None if off is None else off.total_seconds() / 3600.0


def _device(event: Event) -> float | None:
    ctx = event.context
    dev = ctx.get("device")
    if isinstance(dev, dict) and isinstance(dev.get("type"), str):
        return _DEVICE.get(dev["type"].lower(), 1.0)
    os_ = ctx.get("os")
    if isinstance(os_, dict) and isinstance(os_.get("name"), str):
        return _DEVICE.get(os_["name"].lower(), 1.0)
    ua = ctx.get("userAgent")
    if isinstance(ua, str):
        return 2.0 if "Mobi" in ua else 1.0
    if event.type == "screen":
        return 2.0
    return None


def consent_changes(event: Event, channels: tuple[str, ...] | None = None) -> dict[str, bool]:
    """Channel → granted, from identify traits, Segment consent context or a consent event,
    for the catalog's `channels` (None: any channel name)."""
    found: dict[str, bool] = {}
    sources: list[Any] = [event.traits.get("consent")]
    consent_ctx = event.context.get("consent")
    if isinstance(consent_ctx, dict):
        sources.append(consent_ctx.get("categoryPreferences"))
    if event.event in _CONSENT_EVENTS:
        sources += [event.properties.get("consent"), event.properties]
    for src in sources:
        if isinstance(src, dict):
            for ch, v in src.items():
                if (channels is None or ch in channels) and isinstance(v, bool):
                    found[ch] = v
    return found


def _apply_consent(state: CustomerState, event: Event, channels: tuple[str, ...]) -> None:
    for ch, granted in consent_changes(event, channels).items():
        bit = 1 << channels.index(ch)
        if granted:
            state.consent_granted |= bit
            state.consent_denied &= ~bit
        else:
            state.consent_granted &= ~bit
            state.consent_denied |= bit


def _apply_profile(state: CustomerState, event: Event) -> None:
    t = event.traits
    name = t.get("firstName", t.get("first_name"))
    if isinstance(name, str) and name:
        state.first_name = name[:40]
    region = t.get("region")
    if isinstance(region, str) and region:
        state.region = region[:40]


def _apply_traits(state: CustomerState, event: Event, layout: Layout) -> None:
    """Declared traits: identify traits, event properties (optionally of one event) and
    context fields become slots; a value that does not fit its declaration is ignored."""
    for i, trait in enumerate(layout.world.traits):
        v = trait.read(event.traits, event.properties, event.context,
                       event.event if event.type == "track" else None)
        if v is not None:
            state.row[layout.traits + i] = v


def _apply_context(state: CustomerState, event: Event) -> None:
    r = state.row
    dev = _device(event)
    if dev is not None:
        r[Slot.DEVICE] = dev
    off = _tz_offset_hours(event.context.get("timezone"), event.ts)
    if off is not None:
        r[Slot.TZ_OFFSET_H] = off
    loc = event.context.get("location")
    if isinstance(loc, dict):
        region = loc.get("region") or loc.get("country")
        if isinstance(region, str) and region:
            state.region = region[:40]


def _apply_session(state: CustomerState, ts: float, layout: Layout) -> None:
    r = state.row
    block = int(((ts / 3600.0 + r[Slot.TZ_OFFSET_H]) % 24.0) // (24 / HOUR_BLOCKS))
    r[layout.hours + block] += 1.0
    if r[Slot.FIRST_SEEN] == 0:
        r[Slot.FIRST_SEEN] = ts
    if ts - r[Slot.LAST_SEEN] > SESSION_GAP or r[Slot.SESSIONS] == 0:
        r[Slot.PREV_SESSION_START] = r[Slot.SESSION_START]
        r[Slot.SESSION_START] = ts
        r[Slot.SESSION_EVENTS] = 0
        r[Slot.SESSIONS] += 1
    r[Slot.SESSION_EVENTS] += 1
    r[Slot.LAST_SEEN] = max(r[Slot.LAST_SEEN], ts)


def _products(p: dict[str, Any]) -> list[dict[str, Any]]:
    items = p.get("products")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _apply_track(state: CustomerState, event: Event, layout: Layout) -> float | None:
    """Update behavioural/transactional/feedback features; returns a rating if one was given."""
    name, p, ts, r = event.event, event.properties, event.ts, state.row
    world = layout.world
    rating: float | None = None
    count = layout.add
    if name in ("Product Viewed", "Product Clicked"):
        price = _num(p, "price")
        count(state, "views_7d", ts)
        cat = world.category_of(p.get("category"))
        if cat >= 0:
            r[layout.affinity + cat] += 1.0
        if price > 0:
            r[Slot.VIEWED_PRICE_SUM] += price
            r[Slot.VIEWED_PRICE_N] += 1.0
        r[Slot.LAST_VIEW_TS] = ts
        item = _item_id(p)
        if item is not None:
            state.remember("viewed", item)
    elif name in ("Products Searched", "Product List Viewed", "Product List Filtered"):
        count(state, "searches_7d", ts)
        cat = world.category_of(p.get("category"))
        if cat >= 0:
            r[layout.affinity + cat] += 0.5
    elif name == "Product Added":
        qty = max(_num(p, "quantity", 1.0), 0.0)
        amount = _num(p, "price") * qty
        count(state, "adds_7d", ts)
        cat = world.category_of(p.get("category"))
        if cat >= 0:
            r[layout.affinity + cat] += 2.0
        r[Slot.CART_VALUE] += max(amount, 0.0)
        r[Slot.CART_ITEMS] += qty
        r[Slot.LAST_ADD_TS] = ts
        item = _item_id(p)
        if item is not None:
            state.remember("added", item)
    elif name == "Product Removed":
        qty = max(_num(p, "quantity", 1.0), 0.0)
        amount = _num(p, "price") * qty
        r[Slot.CART_VALUE] = max(r[Slot.CART_VALUE] - max(amount, 0.0), 0.0)
        r[Slot.CART_ITEMS] = max(r[Slot.CART_ITEMS] - qty, 0.0)
        item = _item_id(p)
        if item is not None and item in state.added:
            state.added.remove(item)
    elif name == "Checkout Started":
        r[Slot.CHECKOUT_TS] = ts
    elif name == "Order Completed":
        revenue = _num(p, "revenue", _num(p, "total", r[Slot.CART_VALUE]))
        products = _products(p)
        for prod in products:
            cat = world.category_of(prod.get("category"))
            if cat >= 0:
                r[layout.affinity + cat] += 3.0
        r[Slot.ORDERS] += 1
        r[Slot.REVENUE] += max(revenue, 0.0)
        if r[Slot.FIRST_ORDER_TS] == 0:
            r[Slot.FIRST_ORDER_TS] = ts
        r[Slot.LAST_ORDER_TS] = ts
        r[Slot.CART_VALUE] = 0.0
        r[Slot.CART_ITEMS] = 0.0
        r[Slot.CHECKOUT_TS] = 0.0
        count(state, "orders_90d", ts)
        bought = [i for i in (_item_id(prod) for prod in products) if i is not None]
        for item in bought or list(state.added):
            state.remember("bought", item)
        state.added.clear()
    elif name in ("Order Refunded", "Product Returned"):
        r[Slot.RETURNS] += 1
        count(state, "support_30d", ts)
    elif name in ("Support Contacted", "Ticket Opened", "Chat Started"):
        count(state, "support_30d", ts)
    elif name == "Product Reviewed":
        rating = _num(p, "rating", 0.0)
        if 1.0 <= rating <= 5.0:
            r[Slot.RATING_SUM] += rating
            r[Slot.RATING_N] += 1
        else:
            rating = None
    elif name == "Promotion Viewed":
        count(state, "promo_views_30d", ts)
    elif name == "Promotion Clicked":
        count(state, "promo_clicks_30d", ts)
    elif name in ("Coupon Entered", "Coupon Applied"):
        count(state, "coupons_7d", ts)
    elif name == "Product Added to Wishlist":
        count(state, "wishlist_30d", ts)
    return rating


def apply_event(state: CustomerState, event: Event, layout: Layout,
                lifecycle: Lifecycle) -> int:
    """Fold `event` into `state`; return the stage before the event.

    Raises `DecodeError` (before mutating anything observable) when a property the feature
    code needs has the wrong type.
    """
    before, r = state.stage, state.row
    previous_seen = r[Slot.LAST_SEEN]
    ts = max(event.ts, r[Slot.DECAY_TS])  # late events count at the latest time seen
    channels = layout.world.channels
    if event.type == "track":
        _check_amounts(event)
    layout.decay_to(state, ts)
    rating: float | None = None
    if event.type == "track":
        rating = _apply_track(state, event, layout)
    elif event.type == "identify":
        _apply_profile(state, event)
    # consent rides on any call (Segment's consent context is attached to every event)
    _apply_consent(state, event, channels)
    _apply_traits(state, event, layout)
    _apply_context(state, event)
    _apply_session(state, event.ts, layout)
    stage = lifecycle.next(state.stage, r[Slot.STAGE_SINCE], ts,
                           event.event if event.type == "track" else None,
                           orders=int(r[Slot.ORDERS]), rating=rating, last_seen=previous_seen)
    if stage != state.stage:
        state.stage = stage
        r[Slot.STAGE_SINCE] = ts
    return before


def _check_amounts(event: Event) -> None:
    """Reject a poison event (wrong-typed or absurd amounts) before anything is mutated."""
    p = event.properties
    for key in ("price", "quantity", "revenue", "total"):
        _num(p, key)
    if event.event == "Product Reviewed":
        _num(p, "rating")
