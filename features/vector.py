"""Vectorize a customer's state into the fixed-order float32 vector the scorer reads."""

from __future__ import annotations

import math

import numpy as np

from features.schema import CHANNELS
from features.stage import Stage
from features.state import AFFINITY0, CATEGORIES, COUNTER_INDEX, TAUS, CustomerState, Slot

__all__ = ["FEATURE_INDEX", "FEATURE_NAMES", "N_FEATURES", "local_hour", "vectorize"]

DAY = 86400.0

FEATURE_NAMES: tuple[str, ...] = (
    "bias",
    "views_7d",
    "searches_7d",
    "adds_7d",
    "cart_value",
    "cart_items",
    "checkout_open",
    "orders",
    "revenue",
    "days_since_order",
    "never_ordered",
    "days_since_prev_session",
    "aov",
    "orders_90d",
    "session_events",
    "sessions",
    "promo_ctr",
    "promo_views_30d",
    "support_30d",
    "rating",
    "returns",
    "device_mobile",
    "device_desktop",
    "hour_sin",
    "hour_cos",
    "weekend",
    "quiet_hours",
    "rain",
    "temperature",
    "known_customer",
    "age",
    "loyalty",
    "p_repurchase",
    *(f"stage_{s.label}" for s in Stage),
    *(f"affinity_{c}" for c in CATEGORIES),
    "affinity_strength",
    "days_in_stage",
    "consent_email",
    "consent_sms",
    "consent_push",
    "hours_since_view",
    "hours_since_add",
    "cart_idle",
    "coupons_7d",
    "wishlist_30d",
    "first_session",
    "tenure_days",
)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_INDEX = {n: i for i, n in enumerate(FEATURE_NAMES)}
assert N_FEATURES == 64, N_FEATURES

_EMAIL, _SMS, _PUSH = (1 << CHANNELS.index(c) for c in ("email", "sms", "push"))
_TAUS = TAUS.tolist()
_C = {name: COUNTER_INDEX[name] - Slot.COUNTER0 for name in COUNTER_INDEX}
_VIEWS, _SEARCHES, _ADDS = _C["views_7d"], _C["searches_7d"], _C["adds_7d"]
_PROMO_VIEWS, _PROMO_CLICKS = _C["promo_views_30d"], _C["promo_clicks_30d"]
_SUPPORT, _ORDERS_90D = _C["support_30d"], _C["orders_90d"]
_COUPONS, _WISHLIST = _C["coupons_7d"], _C["wishlist_30d"]


def local_hour(state: CustomerState, now: float) -> float:
    """The customer's local hour of day (0–24) at event time `now`."""
    return ((now / 3600.0) + state.row[Slot.TZ_OFFSET_H]) % 24.0


def _log(v: float) -> float:
    return math.log1p(max(v, 0.0))


def _decayed(row: list[float], now: float) -> list[float]:
    """The decayed counters of a row (as Python floats) at event time `now`."""
    k = Slot.COUNTER0
    dt = now - row[Slot.DECAY_TS]
    if dt <= 0:
        return row[k:]
    return [v * math.exp(-dt / tau) if v else 0.0 for v, tau in zip(row[k:], _TAUS, strict=True)]


def vectorize(
    state: CustomerState,
    now: float,
    signals: dict[str, float] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fill (or allocate) a float32 vector of `N_FEATURES` values as of event time `now`.

    Decayed counters are read as if decayed to `now`, without mutating the state. Plain
    Python floats throughout: per-element numpy scalars would cost several times more.
    """
    r = state.row.tolist()
    c = _decayed(r, now)
    k = Slot.COUNTER0
    log = _log
    signals = signals or {}
    orders = r[Slot.ORDERS]
    tz = r[Slot.TZ_OFFSET_H]
    hour = ((now / 3600.0) + tz) % 24.0
    local_day = int(((now / 3600.0 + tz) // 24 + 3) % 7)  # 0 = Monday
    aff = c[AFFINITY0 - k : AFFINITY0 - k + len(CATEGORIES)]
    aff_sum = sum(aff)
    prev = r[Slot.PREV_SESSION_START]
    views, clicks = c[_PROMO_VIEWS], c[_PROMO_CLICKS]
    lv, la = r[Slot.LAST_VIEW_TS], r[Slot.LAST_ADD_TS]
    device = r[Slot.DEVICE]
    stages = [0.0] * len(Stage)
    stages[int(state.stage)] = 1.0
    granted = state.consent_granted
    values = [
        1.0,
        log(c[_VIEWS]),
        log(c[_SEARCHES]),
        log(c[_ADDS]),
        log(r[Slot.CART_VALUE]) / 5.0,
        min(r[Slot.CART_ITEMS], 10.0) / 10.0,
        1.0 if r[Slot.CHECKOUT_TS] > 0 else 0.0,
        log(orders),
        log(r[Slot.REVENUE]) / 5.0,
        min((now - r[Slot.LAST_ORDER_TS]) / DAY, 365.0) / 365.0 if orders else 1.0,
        0.0 if orders else 1.0,
        min((now - prev) / DAY, 90.0) / 30.0 if prev > 0 else 0.0,
        log(r[Slot.REVENUE] / orders) / 5.0 if orders else 0.0,
        log(c[_ORDERS_90D]),
        min(r[Slot.SESSION_EVENTS], 20.0) / 20.0,
        log(r[Slot.SESSIONS]),
        (clicks + 0.1) / (views + 1.0),
        log(views),
        log(c[_SUPPORT]),
        (r[Slot.RATING_SUM] / r[Slot.RATING_N] - 3.0) / 2.0 if r[Slot.RATING_N] else 0.0,
        log(r[Slot.RETURNS]),
        1.0 if device in (2.0, 3.0) else 0.0,
        1.0 if device == 1.0 else 0.0,
        math.sin(2 * math.pi * hour / 24.0),
        math.cos(2 * math.pi * hour / 24.0),
        1.0 if local_day >= 5 else 0.0,
        1.0 if (hour >= 21.0 or hour < 8.0) else 0.0,
        1.0 if signals.get("rain", 0.0) > 0 else 0.0,
        (signals.get("temperature_c", 15.0) - 15.0) / 15.0,
        1.0 if state.known else 0.0,
        (r[Slot.AGE] - 40.0) / 20.0 if r[Slot.AGE] else 0.0,
        r[Slot.LOYALTY] / 3.0,
        r[Slot.P_REPURCHASE],
        *stages,
        *([a / (aff_sum + 1e-6) for a in aff] if aff_sum > 0 else [0.0] * len(CATEGORIES)),
        log(aff_sum),
        min((now - r[Slot.STAGE_SINCE]) / DAY, 60.0) / 30.0,
        1.0 if granted & _EMAIL else 0.0,
        1.0 if granted & _SMS else 0.0,
        1.0 if granted & _PUSH else 0.0,
        min((now - lv) / 3600.0, 48.0) / 48.0 if lv > 0 else 1.0,
        min((now - la) / 3600.0, 48.0) / 48.0 if la > 0 else 1.0,
        1.0 if r[Slot.CART_ITEMS] > 0 and now - la > 3600.0 else 0.0,
        log(c[_COUPONS]),
        log(c[_WISHLIST]),
        1.0 if r[Slot.SESSIONS] <= 1 else 0.0,
        log((now - r[Slot.FIRST_SEEN]) / DAY) if r[Slot.FIRST_SEEN] > 0 else 0.0,
    ]
    if out is None:
        return np.array(values, dtype=np.float32)
    out[:] = values
    return out
