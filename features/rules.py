"""Rule features: human-unit values that catalog eligibility expressions are written over.

The scorer's vector (`features.vector`) is scaled for learning; rules read plain units
(currency, days, hours, counts) so a catalog author writes `cart_value > 20`.
"""

from __future__ import annotations

import numpy as np

from features.state import COUNTER_INDEX, TAUS, CustomerState, Slot
from features.vector import local_hour

__all__ = ["RULE_INDEX", "RULE_NAMES", "rule_values"]

DAY = 86400.0

RULE_NAMES: tuple[str, ...] = (
    "cart_value",
    "cart_items",
    "checkout_open",
    "orders",
    "revenue",
    "days_since_order",
    "never_ordered",
    "views_7d",
    "searches_7d",
    "adds_7d",
    "promo_clicks_30d",
    "promo_views_30d",
    "support_30d",
    "coupons_7d",
    "rating",
    "returns",
    "sessions",
    "session_events",
    "hours_since_view",
    "hours_since_add",
    "days_in_stage",
    "tenure_days",
    "loyalty",
    "age",
    "known_customer",
    "device_mobile",
    "local_hour",
    "rain",
    "temperature_c",
    "p_repurchase",
)
RULE_INDEX = {n: i for i, n in enumerate(RULE_NAMES)}
_NEVER = 1e6  # "days/hours since" for something that never happened


def rule_values(
    state: CustomerState, now: float, signals: dict[str, float] | None = None
) -> np.ndarray:
    """The `RULE_NAMES` values (float32) of `state` as of event time `now`."""
    r = state.row
    k = Slot.COUNTER0
    c = r[k:] * np.exp(-max(now - r[Slot.DECAY_TS], 0.0) / TAUS)
    signals = signals or {}

    def ctr(name: str) -> float:
        return float(c[COUNTER_INDEX[name] - k])

    def since(slot: int, unit: float) -> float:
        return (now - r[slot]) / unit if r[slot] > 0 else _NEVER

    orders = r[Slot.ORDERS]
    return np.array(
        [
            r[Slot.CART_VALUE],
            r[Slot.CART_ITEMS],
            1.0 if r[Slot.CHECKOUT_TS] > 0 else 0.0,
            orders,
            r[Slot.REVENUE],
            since(Slot.LAST_ORDER_TS, DAY),
            0.0 if orders else 1.0,
            ctr("views_7d"),
            ctr("searches_7d"),
            ctr("adds_7d"),
            ctr("promo_clicks_30d"),
            ctr("promo_views_30d"),
            ctr("support_30d"),
            ctr("coupons_7d"),
            r[Slot.RATING_SUM] / r[Slot.RATING_N] if r[Slot.RATING_N] else 0.0,
            r[Slot.RETURNS],
            r[Slot.SESSIONS],
            r[Slot.SESSION_EVENTS],
            since(Slot.LAST_VIEW_TS, 3600.0),
            since(Slot.LAST_ADD_TS, 3600.0),
            since(Slot.STAGE_SINCE, DAY),
            since(Slot.FIRST_SEEN, DAY),
            r[Slot.LOYALTY],
            r[Slot.AGE],
            1.0 if state.known else 0.0,
            1.0 if r[Slot.DEVICE] in (2.0, 3.0) else 0.0,
            local_hour(state, now),
            signals.get("rain", 0.0),
            signals.get("temperature_c", 15.0),
            r[Slot.P_REPURCHASE],
        ],
        dtype=np.float32,
    )
