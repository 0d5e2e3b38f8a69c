"""Rule features: human-unit values that catalog eligibility expressions are written over.

The scorer's vector (`features.vector`) is scaled for learning; rules read plain units
(currency, days, hours, counts in their windows) so a catalog author writes `cart_value > 20`
or `views_7d >= 1` and means it. Declared traits add rules by name: numeric, boolean and
ordinal traits as their value, categorical ones as `trait_value` (1 or 0).
"""

from __future__ import annotations

import numpy as np

from features.state import WINDOWED, Layout, Slot
from features.vector import local_hour

__all__ = ["BASE_RULES", "RuleSpace"]

DAY = 86400.0
_NEVER = 1e6  # "days/hours since" for something that never happened

BASE_RULES: tuple[str, ...] = (
    "cart_value",
    "cart_items",
    "checkout_open",
    "orders",
    "revenue",
    "days_since_order",
    "never_ordered",
    *(name for name, _ in WINDOWED),
    "rating",
    "returns",
    "sessions",
    "session_events",
    "hours_since_view",
    "hours_since_add",
    "days_in_stage",
    "tenure_days",
    "known_customer",
    "device_mobile",
    "local_hour",
    "rain",
    "temperature_c",
    "p_repurchase",
    "expected_orders_30d",
    "viewed_items",
)


class RuleSpace:
    """The rule features of one catalog's world: names and `values`."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        names = list(BASE_RULES)
        for t in layout.world.traits:
            if t.type == "categorical":
                names += [f"{t.name}_{v}" for v in t.values]
            else:
                names.append(t.name)
        self.names: tuple[str, ...] = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.size = len(self.names)

    def values(self, state: object, now: float, signals: dict[str, float] | None = None, *,
               p_repurchase: float = 0.0, expected_orders: float = 0.0) -> np.ndarray:
        """The rule values (float32, `names` order) of `state` as of event time `now`."""
        lay = self.layout
        r = state.row  # type: ignore[attr-defined]
        signals = signals or {}

        def since(slot: int, unit: float) -> float:
            return (now - r[slot]) / unit if r[slot] > 0 else _NEVER

        orders = r[Slot.ORDERS]
        values = [
            r[Slot.CART_VALUE],
            r[Slot.CART_ITEMS],
            1.0 if r[Slot.CHECKOUT_TS] > 0 else 0.0,
            orders,
            r[Slot.REVENUE],
            since(Slot.LAST_ORDER_TS, DAY),
            0.0 if orders else 1.0,
            *(lay.count(state, name, now) for name, _ in WINDOWED),
            r[Slot.RATING_SUM] / r[Slot.RATING_N] if r[Slot.RATING_N] else 0.0,
            r[Slot.RETURNS],
            r[Slot.SESSIONS],
            r[Slot.SESSION_EVENTS],
            since(Slot.LAST_VIEW_TS, 3600.0),
            since(Slot.LAST_ADD_TS, 3600.0),
            since(Slot.STAGE_SINCE, DAY),
            since(Slot.FIRST_SEEN, DAY),
            1.0 if state.known else 0.0,  # type: ignore[attr-defined]
            1.0 if r[Slot.DEVICE] in (2.0, 3.0) else 0.0,
            local_hour(r[Slot.TZ_OFFSET_H], now),
            signals.get("rain", 0.0),
            signals.get("temperature_c", 15.0),
            p_repurchase,
            expected_orders,
            float(len(state.viewed)),  # type: ignore[attr-defined]
        ]
        for i, t in enumerate(lay.world.traits):
            v = r[lay.traits + i]
            if t.type == "categorical":
                values += [1.0 if int(v) == j + 1 else 0.0 for j in range(len(t.values))]
            else:
                values.append(v)
        return np.array(values, dtype=np.float32)
