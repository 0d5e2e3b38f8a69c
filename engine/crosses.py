"""Customer × action features: what relates this customer to this treatment.

Per decision, one row per treatment (`CrossSpace.matrix`): her affinity to the action's
category, her own decayed response rates on its channel and on its kind, contact fatigue on
its channel and across outbound channels, her ignores of this action, its discount against
her price-sensitivity signals, whether now is one of her active hours for an outbound send,
and the action's price against the prices she looks at. Static per-treatment attributes
(the catalog's `attributes:`; strings one-hot, numbers as they are) come from
`CrossSpace.attributes`. Both feed the shared part of the response model (`engine.model`),
so what is learned on one action carries over to every action that shares a trait.
"""

from __future__ import annotations

import math

import numpy as np

from engine.catalog import Catalog
from features.state import HOUR_BLOCKS, CustomerState, Layout, Slot

__all__ = ["CROSSES", "FATIGUE_CROSSES", "CrossSpace"]

CROSSES: tuple[str, ...] = (
    "category_share",
    "category_interest",
    "channel_response_rate",
    "channel_history",
    "channel_fatigue",
    "outbound_fatigue",
    "kind_response_rate",
    "kind_history",
    "action_ignores",
    "discount_x_discount_response",
    "discount_x_coupons",
    "discount_x_cart",
    "active_hour_outbound",
    "price_fit",
)
FATIGUE_CROSSES = frozenset({"channel_fatigue", "outbound_fatigue", "action_ignores"})
_RATE_PRIOR = 0.1  # pseudo-responses over one pseudo-send: a rate with no history is 0.1


class CrossSpace:
    """Gather indices from a catalog's treatments into a customer's state."""

    def __init__(self, catalog: Catalog) -> None:
        cat, world = catalog, catalog.world
        self.layout: Layout = cat.layout
        self.names = CROSSES
        n = cat.n_treatments
        actions = [cat.actions[int(a)] for a in cat.t_action]
        self.t_action = cat.t_action.astype(np.int64)
        self.t_channel = cat.t_channel.astype(np.int64)
        self.t_kind = np.array([world.kind_index(a.kind) for a in actions], dtype=np.int64)
        none = world.n_categories
        self.t_category = np.array([a.category_index if a.category_index >= 0 else none
                                    for a in actions], dtype=np.int64)
        self.t_discount = np.array([a.discount for a in actions], dtype=np.float64)
        self.t_outbound = np.array([float(cat.channels[world.channels[int(c)]].outbound)
                                    for c in cat.t_channel], dtype=np.float64)
        self.channel_outbound = np.array([float(cat.channels[c].outbound)
                                          for c in world.channels], dtype=np.float64)
        price = [a.attributes.get("price", 0.0) for a in actions]
        self.t_log_price = np.array([math.log(p) if isinstance(p, float) and p > 0 else 0.0
                                     for p in price], dtype=np.float64)
        self.n_actions = len(cat.actions)
        self._action = {a.id: i for i, a in enumerate(cat.actions)}
        mask = np.ones(len(CROSSES), dtype=np.float64)
        if not cat.learning.fatigue:
            mask[[CROSSES.index(c) for c in FATIGUE_CROSSES]] = 0.0
        self._mask = mask
        # static attributes: strings one-hot (key=value), numbers as they are (key)
        keys: list[str] = []
        for a in cat.actions:
            for k, v in sorted(a.attributes.items()):
                name = f"{k}={v}" if isinstance(v, str) else k
                if name not in keys:
                    keys.append(name)
        self.attribute_names: tuple[str, ...] = tuple(keys)
        A = np.zeros((n, len(keys)), dtype=np.float32)
        for t, a in enumerate(actions):
            for k, v in a.attributes.items():
                if isinstance(v, str):
                    A[t, keys.index(f"{k}={v}")] = 1.0
                else:
                    A[t, keys.index(k)] = float(v)
        self.attributes = A

    def matrix(self, state: CustomerState, now: float) -> np.ndarray:
        """The (treatments × crosses) float32 matrix for one customer at event time `now`."""
        lay = self.layout
        d = lay.decayed(state, now)
        lo = lay.decay_lo
        nc, nk = len(lay.world.channels), len(lay.world.kinds)
        aff = d[lay.affinity - lo : lay.affinity - lo + lay.world.n_categories]
        total = aff.sum()
        share = np.append(aff / total if total > 0 else aff * 0.0, 0.0)
        interest = np.append(np.log1p(aff), 0.0)
        sent = d[lay.channel_sent - lo : lay.channel_sent - lo + nc]
        resp = d[lay.channel_responded - lo : lay.channel_responded - lo + nc]
        recent = d[lay.channel_recent - lo : lay.channel_recent - lo + nc]
        ksent = d[lay.kind_sent - lo : lay.kind_sent - lo + nk]
        kresp = d[lay.kind_responded - lo : lay.kind_responded - lo + nk]
        dsent = d[lay.discount_sent - lo]
        dresp = d[lay.discount_responded - lo]
        hours = d[lay.hours - lo : lay.hours - lo + HOUR_BLOCKS]
        r = state.row
        block = int(((now / 3600.0 + r[Slot.TZ_OFFSET_H]) % 24.0) // (24 / HOUR_BLOCKS))
        hsum = hours.sum()
        active = hours[block] / hsum * HOUR_BLOCKS if hsum > 0 else 1.0
        outbound_recent = float(recent @ self.channel_outbound)
        ignores = np.zeros(self.n_actions + 1)
        for aid, (n, ts) in state.ignores.items():
            a = self._action.get(aid)
            if a is not None:
                ignores[a] = n * math.exp(-max(now - ts, 0.0) / (14 * 86400.0))
        n_viewed = r[Slot.VIEWED_PRICE_N]
        seen_price = math.log(r[Slot.VIEWED_PRICE_SUM] / n_viewed) if n_viewed > 0.5 else 0.0
        coupons = math.log1p(lay.count(state, "coupons_7d", now))
        cart = 1.0 if r[Slot.CART_ITEMS] > 0 else 0.0
        disc = self.t_discount
        ch, kd = self.t_channel, self.t_kind
        C = np.empty((self.t_action.shape[0], len(CROSSES)), dtype=np.float64)
        C[:, 0] = share[self.t_category]
        C[:, 1] = interest[self.t_category]
        C[:, 2] = ((resp + _RATE_PRIOR) / (sent + 1.0))[ch]
        C[:, 3] = np.log1p(sent)[ch]
        C[:, 4] = np.log1p(recent)[ch]
        C[:, 5] = math.log1p(outbound_recent) * self.t_outbound
        C[:, 6] = ((kresp + _RATE_PRIOR) / (ksent + 1.0))[kd]
        C[:, 7] = np.log1p(ksent)[kd]
        C[:, 8] = np.log1p(ignores[self.t_action])
        C[:, 9] = disc * ((dresp + _RATE_PRIOR) / (dsent + 1.0))
        C[:, 10] = disc * coupons
        C[:, 11] = disc * cart
        C[:, 12] = self.t_outbound * (active - 1.0)
        fit = -np.abs(self.t_log_price - seen_price) / 2.0
        C[:, 13] = np.where((self.t_log_price != 0.0) & (seen_price != 0.0), fit, 0.0)
        C *= self._mask
        return C.astype(np.float32)
