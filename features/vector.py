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

_STAGE0 = FEATURE_INDEX["stage_awareness"]
_AFF0 = FEATURE_INDEX[f"affinity_{CATEGORIES[0]}"]
_EMAIL, _SMS, _PUSH = (1 << CHANNELS.index(c) for c in ("email", "sms", "push"))


def local_hour(state: CustomerState, now: float) -> float:
    """The customer's local hour of day (0–24) at event time `now`."""
    return ((now / 3600.0) + state.row[Slot.TZ_OFFSET_H]) % 24.0


def _log(v: float) -> float:
    return math.log1p(max(v, 0.0))


def vectorize(
    state: CustomerState,
    now: float,
    signals: dict[str, float] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fill (or allocate) a float32 vector of `N_FEATURES` values as of event time `now`.

    Decayed counters are read as if decayed to `now`, without mutating the state.
    """
    v = np.zeros(N_FEATURES, dtype=np.float32) if out is None else out
    r = state.row
    k = Slot.COUNTER0
    c = r[k:] * np.exp(-max(now - r[Slot.DECAY_TS], 0.0) / TAUS)

    def ctr(name: str) -> float:
        return float(c[COUNTER_INDEX[name] - k])

    orders = r[Slot.ORDERS]
    hour = local_hour(state, now)
    local_day = int(((now / 3600.0 + r[Slot.TZ_OFFSET_H]) // 24 + 3) % 7)  # 0 = Monday
    signals = signals or {}
    aff = c[AFFINITY0 - k : AFFINITY0 - k + len(CATEGORIES)]
    aff_sum = float(aff.sum())
    prev = r[Slot.PREV_SESSION_START]
    v[0] = 1.0
    v[1] = _log(ctr("views_7d"))
    v[2] = _log(ctr("searches_7d"))
    v[3] = _log(ctr("adds_7d"))
    v[4] = _log(r[Slot.CART_VALUE]) / 5.0
    v[5] = min(r[Slot.CART_ITEMS], 10.0) / 10.0
    v[6] = 1.0 if r[Slot.CHECKOUT_TS] > 0 else 0.0
    v[7] = _log(orders)
    v[8] = _log(r[Slot.REVENUE]) / 5.0
    v[9] = min((now - r[Slot.LAST_ORDER_TS]) / DAY, 365.0) / 365.0 if orders else 1.0
    v[10] = 0.0 if orders else 1.0
    v[11] = min((now - prev) / DAY, 90.0) / 30.0 if prev > 0 else 0.0
    v[12] = _log(r[Slot.REVENUE] / orders) / 5.0 if orders else 0.0
    v[13] = _log(ctr("orders_90d"))
    v[14] = min(r[Slot.SESSION_EVENTS], 20.0) / 20.0
    v[15] = _log(r[Slot.SESSIONS])
    views, clicks = ctr("promo_views_30d"), ctr("promo_clicks_30d")
    v[16] = (clicks + 0.1) / (views + 1.0)
    v[17] = _log(views)
    v[18] = _log(ctr("support_30d"))
    v[19] = (r[Slot.RATING_SUM] / r[Slot.RATING_N] - 3.0) / 2.0 if r[Slot.RATING_N] else 0.0
    v[20] = _log(r[Slot.RETURNS])
    v[21] = 1.0 if r[Slot.DEVICE] in (2.0, 3.0) else 0.0
    v[22] = 1.0 if r[Slot.DEVICE] == 1.0 else 0.0
    v[23] = math.sin(2 * math.pi * hour / 24.0)
    v[24] = math.cos(2 * math.pi * hour / 24.0)
    v[25] = 1.0 if local_day >= 5 else 0.0
    v[26] = 1.0 if (hour >= 21.0 or hour < 8.0) else 0.0
    v[27] = 1.0 if signals.get("rain", 0.0) > 0 else 0.0
    v[28] = (signals.get("temperature_c", 15.0) - 15.0) / 15.0
    v[29] = 1.0 if state.known else 0.0
    v[30] = (r[Slot.AGE] - 40.0) / 20.0 if r[Slot.AGE] else 0.0
    v[31] = r[Slot.LOYALTY] / 3.0
    v[32] = r[Slot.P_REPURCHASE]
    v[_STAGE0 : _STAGE0 + len(Stage)] = 0.0
    v[_STAGE0 + int(state.stage)] = 1.0
    v[_AFF0 : _AFF0 + len(CATEGORIES)] = aff / (aff_sum + 1e-6) if aff_sum > 0 else 0.0
    i = _AFF0 + len(CATEGORIES)
    v[i] = _log(aff_sum)
    v[i + 1] = min((now - r[Slot.STAGE_SINCE]) / DAY, 60.0) / 30.0
    v[i + 2] = 1.0 if state.consent_granted & _EMAIL else 0.0
    v[i + 3] = 1.0 if state.consent_granted & _SMS else 0.0
    v[i + 4] = 1.0 if state.consent_granted & _PUSH else 0.0
    lv, la = r[Slot.LAST_VIEW_TS], r[Slot.LAST_ADD_TS]
    v[i + 5] = min((now - lv) / 3600.0, 48.0) / 48.0 if lv > 0 else 1.0
    v[i + 6] = min((now - la) / 3600.0, 48.0) / 48.0 if la > 0 else 1.0
    v[i + 7] = 1.0 if r[Slot.CART_ITEMS] > 0 and now - la > 3600.0 else 0.0
    v[i + 8] = _log(ctr("coupons_7d"))
    v[i + 9] = _log(ctr("wishlist_30d"))
    v[i + 10] = 1.0 if r[Slot.SESSIONS] <= 1 else 0.0
    v[i + 11] = _log((now - r[Slot.FIRST_SEEN]) / DAY) if r[Slot.FIRST_SEEN] > 0 else 0.0
    return v

