"""Vectorize a customer's state into the fixed-order float32 vector the scorer reads.

The order is fixed per catalog: behavioural and transactional features, the stage one-hot,
category affinity shares (declared categories, then hash buckets), consent per channel and
every declared trait, in the world's order (`FeatureSpace.names`).
"""

from __future__ import annotations

import math

import numpy as np

from features.state import Layout, Slot
from features.world import Trait

__all__ = ["BASE_FEATURES", "FeatureSpace", "local_hour"]

DAY = 86400.0

BASE_FEATURES: tuple[str, ...] = (
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
    "night",
    "rain",
    "temperature",
    "known_customer",
    "p_repurchase",
    "affinity_strength",
    "days_in_stage",
    "hours_since_view",
    "hours_since_add",
    "cart_idle",
    "coupons_7d",
    "wishlist_30d",
    "first_session",
    "tenure_days",
    "contacts_3d",
)


def local_hour(tz_offset_h: float, now: float) -> float:
    """Local hour of day (0–24) at event time `now` for a UTC offset in hours."""
    return ((now / 3600.0) + tz_offset_h) % 24.0


def _log(v: float) -> float:
    return math.log1p(max(v, 0.0))


def _trait_names(t: Trait) -> list[str]:
    if t.type == "categorical":
        return [f"{t.name}_{v}" for v in t.values]
    return [t.name]


class FeatureSpace:
    """The model vector of one catalog's world: names, order and `vectorize`."""

    def __init__(self, layout: Layout, stages: tuple[str, ...]) -> None:
        w = layout.world
        self.layout = layout
        self.stages = stages
        self.names: tuple[str, ...] = (
            *BASE_FEATURES,
            *(f"stage_{s}" for s in stages),
            *(f"affinity_{w.category_id(i)}" for i in range(w.n_categories)),
            *(f"consent_{c}" for c in w.channels),
            *(n for t in w.traits for n in _trait_names(t)),
        )
        self.index = {n: i for i, n in enumerate(self.names)}
        self.size = len(self.names)
        self.affinity0 = len(BASE_FEATURES) + len(stages)

    def vectorize(self, state: object, now: float, signals: dict[str, float] | None = None,
                  *, p_repurchase: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
        """Fill (or allocate) the float32 vector of `state` as of event time `now`.

        Decayed and windowed counters are read as of `now`, without mutating the state.
        Plain Python floats throughout: per-element numpy scalars would cost several times more.
        """
        lay = self.layout
        world = lay.world
        r = state.row.tolist()  # type: ignore[attr-defined]
        d = lay.decayed(state, now).tolist()  # type: ignore[arg-type]
        w = lambda name: lay.count(state, name, now)  # noqa: E731
        log = _log
        signals = signals or {}
        orders = r[Slot.ORDERS]
        tz = r[Slot.TZ_OFFSET_H]
        hour = local_hour(tz, now)
        local_day = int(((now / 3600.0 + tz) // 24 + 3) % 7)  # 0 = Monday
        a0 = lay.affinity - lay.decay_lo
        aff = d[a0 : a0 + world.n_categories]
        aff_sum = sum(aff)
        prev = r[Slot.PREV_SESSION_START]
        views, clicks = w("promo_views_30d"), w("promo_clicks_30d")
        lv, la = r[Slot.LAST_VIEW_TS], r[Slot.LAST_ADD_TS]
        device = r[Slot.DEVICE]
        c0 = lay.channel_recent - lay.decay_lo
        recent = sum(d[c0 : c0 + len(world.channels)])
        stages = [0.0] * len(self.stages)
        stages[int(state.stage)] = 1.0  # type: ignore[attr-defined]
        granted = state.consent_granted  # type: ignore[attr-defined]
        values = [
            1.0,
            log(w("views_7d")),
            log(w("searches_7d")),
            log(w("adds_7d")),
            log(r[Slot.CART_VALUE]) / 5.0,
            min(r[Slot.CART_ITEMS], 10.0) / 10.0,
            1.0 if r[Slot.CHECKOUT_TS] > 0 else 0.0,
            log(orders),
            log(r[Slot.REVENUE]) / 5.0,
            min((now - r[Slot.LAST_ORDER_TS]) / DAY, 365.0) / 365.0 if orders else 1.0,
            0.0 if orders else 1.0,
            min((now - prev) / DAY, 90.0) / 30.0 if prev > 0 else 0.0,
            log(r[Slot.REVENUE] / orders) / 5.0 if orders else 0.0,
            log(w("orders_90d")),
            min(r[Slot.SESSION_EVENTS], 20.0) / 20.0,
            log(r[Slot.SESSIONS]),
            (clicks + 0.1) / (views + 1.0),
            log(views),
            log(w("support_30d")),
            (r[Slot.RATING_SUM] / r[Slot.RATING_N] - 3.0) / 2.0 if r[Slot.RATING_N] else 0.0,
            log(r[Slot.RETURNS]),
            1.0 if device in (2.0, 3.0) else 0.0,
            1.0 if device == 1.0 else 0.0,
            math.sin(2 * math.pi * hour / 24.0),
            math.cos(2 * math.pi * hour / 24.0),
            1.0 if local_day >= 5 else 0.0,
            1.0 if (hour >= 21.0 or hour < 8.0) else 0.0,
            1.0 if signals.get("rain", 0.0) > 0 else 0.0,
            max(min((signals.get("temperature_c", 15.0) - 15.0) / 15.0, 3.0), -3.0),
            1.0 if state.known else 0.0,  # type: ignore[attr-defined]
            p_repurchase,
            log(aff_sum),
            min((now - r[Slot.STAGE_SINCE]) / DAY, 60.0) / 30.0,
            min((now - lv) / 3600.0, 48.0) / 48.0 if lv > 0 else 1.0,
            min((now - la) / 3600.0, 48.0) / 48.0 if la > 0 else 1.0,
            1.0 if r[Slot.CART_ITEMS] > 0 and now - la > 3600.0 else 0.0,
            log(w("coupons_7d")),
            log(w("wishlist_30d")),
            1.0 if r[Slot.SESSIONS] <= 1 else 0.0,
            log((now - r[Slot.FIRST_SEEN]) / DAY) if r[Slot.FIRST_SEEN] > 0 else 0.0,
            log(recent),
            *stages,
            *([a / (aff_sum + 1e-6) for a in aff] if aff_sum > 0 else [0.0] * len(aff)),
            *(1.0 if granted >> i & 1 else 0.0 for i in range(len(world.channels))),
        ]
        for i, t in enumerate(world.traits):
            v = r[lay.traits + i]
            if t.type == "categorical":
                values += [1.0 if int(v) == j + 1 else 0.0 for j in range(len(t.values))]
            elif t.type == "ordinal":
                values.append(v / len(t.values))
            elif t.type == "boolean":
                values.append(v)
            else:
                values.append(math.copysign(math.log1p(abs(v)), v) / 3.0)
        if out is None:
            return np.array(values, dtype=np.float32)
        out[:] = values
        return out
