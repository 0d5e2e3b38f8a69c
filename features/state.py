"""Per-customer state: one float64 row of named slots plus a few small containers.

Compact and picklable (bytewax recovery pickles it). Decayed counters are stored as values
at `DECAY_TS` and decayed lazily by event time, so a replay gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.stage import Stage

__all__ = [
    "AFFINITY0",
    "CATEGORIES",
    "COUNTERS",
    "COUNTER_INDEX",
    "N_SLOTS",
    "TAUS",
    "Contact",
    "CustomerState",
    "Pending",
    "Slot",
]

CATEGORIES: tuple[str, ...] = (
    "apparel", "shoes", "electronics", "home", "beauty", "sports", "toys", "other",
)

DAY = 86400.0

# name -> half-life-free time constant (seconds): value *= exp(-dt / tau)
COUNTERS: tuple[tuple[str, float], ...] = (
    ("views_7d", 7 * DAY),
    ("searches_7d", 7 * DAY),
    ("adds_7d", 7 * DAY),
    ("promo_views_30d", 30 * DAY),
    ("promo_clicks_30d", 30 * DAY),
    ("support_30d", 30 * DAY),
    ("orders_90d", 90 * DAY),
    ("coupons_7d", 7 * DAY),
    ("wishlist_30d", 30 * DAY),
    *((f"affinity_{c}", 30 * DAY) for c in CATEGORIES),
)


class Slot:
    """Indices into `CustomerState.row`."""

    FIRST_SEEN = 0
    LAST_SEEN = 1
    DECAY_TS = 2
    LAST_ORDER_TS = 3
    ORDERS = 4
    REVENUE = 5
    SESSION_START = 6
    SESSION_EVENTS = 7
    SESSIONS = 8
    CART_VALUE = 9
    CART_ITEMS = 10
    CHECKOUT_TS = 11
    RATING_SUM = 12
    RATING_N = 13
    RETURNS = 14
    STAGE_SINCE = 15
    LAST_VIEW_TS = 16
    LAST_ADD_TS = 17
    TZ_OFFSET_H = 18
    DEVICE = 19  # 0 unknown, 1 desktop, 2 mobile, 3 tablet
    AGE = 20
    LOYALTY = 21
    P_REPURCHASE = 22
    PREV_SESSION_START = 23
    COUNTER0 = 24


N_SLOTS = Slot.COUNTER0 + len(COUNTERS)
COUNTER_INDEX = {name: Slot.COUNTER0 + i for i, (name, _) in enumerate(COUNTERS)}
AFFINITY0 = COUNTER_INDEX[f"affinity_{CATEGORIES[0]}"]
TAUS = np.array([tau for _, tau in COUNTERS], dtype=np.float64)


@dataclass(slots=True)
class Contact:
    """A decision delivered to the customer (for caps, cooldowns and quiet hours)."""

    ts: float
    action: int
    channel: int


@dataclass(slots=True)
class Pending:
    """A decision waiting for its outcome inside the attribution window."""

    decision_id: str
    treatment: int
    action: int
    channel: int
    ts: float
    policy: str
    x: np.ndarray
    viewed: bool = False
    responded: bool = False
    resolved: bool = False


class CustomerState:
    """Everything Journey keeps about one customer (keyed by a hash of the customer id)."""

    __slots__ = (
        "consent_denied",
        "consent_granted",
        "contacts",
        "customer_id",
        "first_name",
        "ignores",
        "known",
        "last_action_ts",
        "pending",
        "region",
        "repurchase",
        "row",
        "stage",
        "timers",
    )

    def __init__(self, customer_id: str, *, known: bool) -> None:
        self.customer_id = customer_id
        self.known = known
        self.row = np.zeros(N_SLOTS, dtype=np.float64)
        self.stage = Stage.AWARENESS
        self.region: str | None = None
        self.first_name: str | None = None
        self.consent_granted = 0  # bit per channel (features.schema.CHANNELS order)
        self.consent_denied = 0
        self.contacts: list[Contact] = []
        self.last_action_ts: dict[int, float] = {}
        self.ignores: dict[int, int] = {}
        self.pending: list[Pending] = []
        self.timers: dict[str, float] = {}
        self.repurchase: tuple[float, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return f"CustomerState(stage={self.stage.label}, orders={int(self.row[Slot.ORDERS])})"

    def decay_to(self, now: float) -> None:
        """Bring every decayed counter to event time `now` (never backwards)."""
        dt = now - self.row[Slot.DECAY_TS]
        if dt <= 0:
            return
        c = self.row[Slot.COUNTER0 :]
        c *= np.exp(-dt / TAUS)
        self.row[Slot.DECAY_TS] = now

    def bump(self, counter: str, amount: float = 1.0) -> None:
        """Add to a decayed counter (call `decay_to` first)."""
        self.row[COUNTER_INDEX[counter]] += amount

    def counter(self, counter: str) -> float:
        """Current value of a decayed counter as of `DECAY_TS`."""
        return float(self.row[COUNTER_INDEX[counter]])

    def merge(self, other: CustomerState) -> None:
        """Fold an anonymous profile's history into this (identified) one."""
        now = max(self.row[Slot.DECAY_TS], other.row[Slot.DECAY_TS])
        self.decay_to(now)
        other.decay_to(now)
        r, o = self.row, other.row
        r[Slot.COUNTER0 :] += o[Slot.COUNTER0 :]
        for s in (Slot.ORDERS, Slot.REVENUE, Slot.SESSIONS, Slot.RATING_SUM, Slot.RATING_N,
                  Slot.RETURNS):
            r[s] += o[s]
        firsts = [x for x in (r[Slot.FIRST_SEEN], o[Slot.FIRST_SEEN]) if x > 0]
        r[Slot.FIRST_SEEN] = min(firsts) if firsts else 0.0
        for s in (Slot.LAST_SEEN, Slot.LAST_ORDER_TS, Slot.LAST_VIEW_TS, Slot.LAST_ADD_TS,
                  Slot.CHECKOUT_TS):
            r[s] = max(r[s], o[s])
        if o[Slot.LAST_SEEN] >= r[Slot.SESSION_START]:
            # the anonymous session is the live one: keep its cart, session and context
            for s in (Slot.SESSION_START, Slot.SESSION_EVENTS, Slot.CART_VALUE, Slot.CART_ITEMS,
                      Slot.DEVICE, Slot.TZ_OFFSET_H):
                r[s] = o[s]
            if other.stage > self.stage or self.row[Slot.ORDERS] == o[Slot.ORDERS]:
                self.stage, r[Slot.STAGE_SINCE] = other.stage, o[Slot.STAGE_SINCE]
        self.region = self.region or other.region
        self.consent_granted |= other.consent_granted & ~self.consent_denied
        self.consent_denied |= other.consent_denied
        self.consent_granted &= ~self.consent_denied
        self.contacts = sorted(self.contacts + other.contacts, key=lambda c: c.ts)[-16:]
        for a, t in other.last_action_ts.items():
            self.last_action_ts[a] = max(t, self.last_action_ts.get(a, 0.0))
        for a, n in other.ignores.items():
            self.ignores[a] = self.ignores.get(a, 0) + n
        self.pending += other.pending
        for name, due in other.timers.items():
            self.timers.setdefault(name, due)
