"""Apply one validated event to a customer's state (features, consent, profile, stage)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from features.errors import DecodeError
from features.schema import CHANNELS, Event
from features.stage import Stage, infer_stage
from features.state import AFFINITY0, CATEGORIES, CustomerState, Slot

__all__ = ["SESSION_GAP", "apply_event", "consent_changes"]

SESSION_GAP = 30 * 60.0
"""Seconds of inactivity that end a session (Segment/GA convention)."""

_LOYALTY = {"bronze": 1.0, "silver": 2.0, "gold": 3.0, "platinum": 3.0}
_CATEGORY_INDEX = {c: i for i, c in enumerate(CATEGORIES)}
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


def _category(props: dict[str, Any]) -> int:
    c = props.get("category")
    if not isinstance(c, str):
        return _CATEGORY_INDEX["other"]
    return _CATEGORY_INDEX.get(c.strip().lower(), _CATEGORY_INDEX["other"])


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


def consent_changes(event: Event) -> dict[str, bool]:
    """Channel → granted, from identify traits, Segment consent context or a consent event."""
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
                if ch in CHANNELS and isinstance(v, bool):
                    found[ch] = v
    return found


def _apply_consent(state: CustomerState, event: Event) -> None:
    for ch, granted in consent_changes(event).items():
        bit = 1 << CHANNELS.index(ch)
        if granted:
            state.consent_granted |= bit
            state.consent_denied &= ~bit
        else:
            state.consent_granted &= ~bit
            state.consent_denied |= bit


def _apply_profile(state: CustomerState, event: Event) -> None:
    t = event.traits
    r = state.row
    name = t.get("firstName", t.get("first_name"))
    if isinstance(name, str) and name:
        state.first_name = name[:40]
    age = t.get("age")
    if isinstance(age, int | float) and not isinstance(age, bool) and 0 < age < 120:
        r[Slot.AGE] = float(age)
    tier = t.get("loyalty_tier", t.get("plan"))
    if isinstance(tier, str):
        r[Slot.LOYALTY] = _LOYALTY.get(tier.lower(), r[Slot.LOYALTY])
    region = t.get("region")
    if isinstance(region, str) and region:
        state.region = region[:40]


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


def _apply_session(state: CustomerState, ts: float) -> None:
    r = state.row
    if r[Slot.FIRST_SEEN] == 0:
        r[Slot.FIRST_SEEN] = ts
    if ts - r[Slot.LAST_SEEN] > SESSION_GAP or r[Slot.SESSIONS] == 0:
        r[Slot.PREV_SESSION_START] = r[Slot.SESSION_START]
        r[Slot.SESSION_START] = ts
        r[Slot.SESSION_EVENTS] = 0
        r[Slot.SESSIONS] += 1
    r[Slot.SESSION_EVENTS] += 1
    r[Slot.LAST_SEEN] = max(r[Slot.LAST_SEEN], ts)


def _apply_track(state: CustomerState, event: Event) -> float | None:
    """Update behavioural/transactional/feedback features; returns a rating if one was given."""
    name, p, ts, r = event.event, event.properties, event.ts, state.row
    rating: float | None = None
    if name in ("Product Viewed", "Product Clicked"):
        state.bump("views_7d")
        r[AFFINITY0 + _category(p)] += 1.0
        r[Slot.LAST_VIEW_TS] = ts
    elif name in ("Products Searched", "Product List Viewed", "Product List Filtered"):
        state.bump("searches_7d")
    elif name == "Product Added":
        qty = max(_num(p, "quantity", 1.0), 0.0)
        amount = _num(p, "price") * qty
        state.bump("adds_7d")
        r[AFFINITY0 + _category(p)] += 2.0
        r[Slot.CART_VALUE] += max(amount, 0.0)
        r[Slot.CART_ITEMS] += qty
        r[Slot.LAST_ADD_TS] = ts
    elif name == "Product Removed":
        qty = max(_num(p, "quantity", 1.0), 0.0)
        amount = _num(p, "price") * qty
        r[Slot.CART_VALUE] = max(r[Slot.CART_VALUE] - max(amount, 0.0), 0.0)
        r[Slot.CART_ITEMS] = max(r[Slot.CART_ITEMS] - qty, 0.0)
    elif name == "Checkout Started":
        r[Slot.CHECKOUT_TS] = ts
    elif name == "Order Completed":
        revenue = _num(p, "revenue", _num(p, "total", r[Slot.CART_VALUE]))
        r[Slot.ORDERS] += 1
        r[Slot.REVENUE] += max(revenue, 0.0)
        r[Slot.LAST_ORDER_TS] = ts
        r[Slot.CART_VALUE] = 0.0
        r[Slot.CART_ITEMS] = 0.0
        r[Slot.CHECKOUT_TS] = 0.0
        state.bump("orders_90d")
    elif name in ("Order Refunded", "Product Returned"):
        r[Slot.RETURNS] += 1
        state.bump("support_30d")
    elif name in ("Support Contacted", "Ticket Opened", "Chat Started"):
        state.bump("support_30d")
    elif name == "Product Reviewed":
        rating = _num(p, "rating", 0.0)
        if 1.0 <= rating <= 5.0:
            r[Slot.RATING_SUM] += rating
            r[Slot.RATING_N] += 1
        else:
            rating = None
    elif name == "Promotion Viewed":
        state.bump("promo_views_30d")
    elif name == "Promotion Clicked":
        state.bump("promo_clicks_30d")
    elif name in ("Coupon Entered", "Coupon Applied"):
        state.bump("coupons_7d")
    elif name == "Product Added to Wishlist":
        state.bump("wishlist_30d")
    return rating


def apply_event(state: CustomerState, event: Event) -> Stage:
    """Fold `event` into `state`; return the stage before the event.

    Raises `DecodeError` (before mutating anything observable) when a property the feature
    code needs has the wrong type.
    """
    before, r = state.stage, state.row
    previous_seen = r[Slot.LAST_SEEN]
    ts = max(event.ts, r[Slot.DECAY_TS])  # late events count at the latest time seen
    state.decay_to(ts)
    rating: float | None = None
    if event.type == "track":
        rating = _apply_track(state, event)
        _apply_consent(state, event)
    elif event.type == "identify":
        _apply_profile(state, event)
        _apply_consent(state, event)
    _apply_context(state, event)
    _apply_session(state, event.ts)
    stage = infer_stage(
        state.stage,
        r[Slot.STAGE_SINCE],
        ts,
        event.event if event.type == "track" else None,
        orders=int(r[Slot.ORDERS]),
        rating=rating,
        last_seen=previous_seen,
    )
    if stage != state.stage:
        state.stage = stage
        r[Slot.STAGE_SINCE] = ts
    return before
