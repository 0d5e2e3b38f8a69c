"""Per-customer state: one float64 row of named slots plus a few small containers.

The row's layout derives from the catalog's declared world (`Layout.of(world)`): fixed
slots, windowed counters in human units (`features.windows`), time-decayed counters (category
affinity, per-channel and per-kind response history, contact fatigue, active hours; stored as
values at `DECAY_TS` and decayed lazily by event time, so a replay gives the same numbers)
and one slot per declared trait. Compact and picklable (bytewax recovery pickles it); the
layout itself is never pickled with the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features import windows
from features.world import World

__all__ = [
    "DAY",
    "HOUR_BLOCKS",
    "RECENT_ITEMS",
    "WINDOWED",
    "Contact",
    "CustomerState",
    "Layout",
    "Pending",
    "Slot",
]

DAY = 86400.0
HOUR_BLOCKS = 6
"""Active hours are kept as decayed activity in six 4-hour blocks of local time."""
RECENT_ITEMS = 8
"""Viewed, added and bought item ids kept per customer (newest last)."""
_AFFINITY_TAU = 30 * DAY
_HISTORY_TAU = 30 * DAY
_FATIGUE_TAU = 3 * DAY
_IGNORE_TAU = 14 * DAY

WINDOWED: tuple[tuple[str, float], ...] = (
    ("views_7d", 7 * DAY),
    ("searches_7d", 7 * DAY),
    ("adds_7d", 7 * DAY),
    ("promo_views_30d", 30 * DAY),
    ("promo_clicks_30d", 30 * DAY),
    ("support_30d", 30 * DAY),
    ("orders_90d", 90 * DAY),
    ("coupons_7d", 7 * DAY),
    ("wishlist_30d", 30 * DAY),
)
"""Event counts over a sliding window (name, window seconds): what rules and the vector see."""


class Slot:
    """Indices of the fixed slots at the start of every row."""

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
    FIRST_ORDER_TS = 20
    PREV_SESSION_START = 21
    VIEWED_PRICE_SUM = 22  # decayed with the affinity counters (see Layout)
    VIEWED_PRICE_N = 23
    FIXED = 24


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each counter of a world's row lives (computed once per catalog)."""

    world: World
    windowed: dict[str, int]
    decay_lo: int
    decay_hi: int
    taus: np.ndarray
    affinity: int
    channel_sent: int
    channel_responded: int
    channel_recent: int
    kind_sent: int
    kind_responded: int
    discount_sent: int
    discount_responded: int
    hours: int
    traits: int
    n_slots: int
    trait_index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, world: World) -> Layout:
        """The row layout for `world`."""
        at = Slot.FIXED
        windowed = {}
        for name, _ in WINDOWED:
            windowed[name] = at
            at += windows.WIDTH
        decay_lo = at
        taus: list[float] = []

        def block(n: int, tau: float) -> int:
            nonlocal at
            start = at
            at += n
            taus.extend([tau] * n)
            return start

        nc, nk = len(world.channels), len(world.kinds)
        affinity = block(world.n_categories, _AFFINITY_TAU)
        channel_sent = block(nc, _HISTORY_TAU)
        channel_responded = block(nc, _HISTORY_TAU)
        channel_recent = block(nc, _FATIGUE_TAU)
        kind_sent = block(nk, _HISTORY_TAU)
        kind_responded = block(nk, _HISTORY_TAU)
        discount_sent = block(1, _HISTORY_TAU)
        discount_responded = block(1, _HISTORY_TAU)
        hours = block(HOUR_BLOCKS, _HISTORY_TAU)
        decay_hi = at
        traits = at
        at += len(world.traits)
        return cls(world=world, windowed=windowed, decay_lo=decay_lo, decay_hi=decay_hi,
                   taus=np.array(taus, dtype=np.float64), affinity=affinity,
                   channel_sent=channel_sent, channel_responded=channel_responded,
                   channel_recent=channel_recent, kind_sent=kind_sent,
                   kind_responded=kind_responded, discount_sent=discount_sent,
                   discount_responded=discount_responded, hours=hours, traits=traits,
                   n_slots=at,
                   trait_index={t.name: traits + i for i, t in enumerate(world.traits)})

    def new_state(self, customer_id: str, *, known: bool) -> CustomerState:
        """A fresh customer with this layout's row and the world's initial stage."""
        return CustomerState(customer_id, known=known, slots=self.n_slots)

    def decay_to(self, state: CustomerState, now: float) -> None:
        """Bring every decayed counter (and the viewed-price average) to event time `now`."""
        r = state.row
        dt = now - r[Slot.DECAY_TS]
        if dt <= 0:
            return
        r[self.decay_lo : self.decay_hi] *= np.exp(-dt / self.taus)
        f = np.exp(-dt / _AFFINITY_TAU)
        r[Slot.VIEWED_PRICE_SUM] *= f
        r[Slot.VIEWED_PRICE_N] *= f
        r[Slot.DECAY_TS] = now
        for a, (n, ts) in list(state.ignores.items()):
            if now > ts:
                state.ignores[a] = (n * float(np.exp(-(now - ts) / _IGNORE_TAU)), now)

    def decayed(self, state: CustomerState, now: float) -> np.ndarray:
        """The decayed block as of `now`, without mutating the state."""
        r = state.row
        block = r[self.decay_lo : self.decay_hi]
        dt = now - r[Slot.DECAY_TS]
        return block * np.exp(-dt / self.taus) if dt > 0 else block.copy()

    def count(self, state: CustomerState, name: str, now: float) -> float:
        """A windowed counter's value at event time `now` (human units)."""
        return windows.count(state.row, self.windowed[name], _WINDOW[name], now)

    def add(self, state: CustomerState, name: str, ts: float, amount: float = 1.0) -> None:
        """Count an event in a windowed counter."""
        windows.add(state.row, self.windowed[name], _WINDOW[name], ts, amount)

    def ignores(self, state: CustomerState, action: str, now: float) -> float:
        """Decayed count of the customer's ignored decisions of one action."""
        n, ts = state.ignores.get(action, (0.0, now))
        return n * float(np.exp(-max(now - ts, 0.0) / _IGNORE_TAU))

    def merge(self, state: CustomerState, other: CustomerState) -> None:
        """Fold an anonymous profile's history into this (identified) one."""
        now = max(state.row[Slot.DECAY_TS], other.row[Slot.DECAY_TS])
        self.decay_to(state, now)
        self.decay_to(other, now)
        r, o = state.row, other.row
        r[self.decay_lo : self.decay_hi] += o[self.decay_lo : self.decay_hi]
        for base in self.windowed.values():
            windows.merge(r, o, base)
        for s in (Slot.ORDERS, Slot.REVENUE, Slot.SESSIONS, Slot.RATING_SUM, Slot.RATING_N,
                  Slot.RETURNS, Slot.VIEWED_PRICE_SUM, Slot.VIEWED_PRICE_N):
            r[s] += o[s]
        for s in (Slot.FIRST_SEEN, Slot.FIRST_ORDER_TS):
            firsts = [x for x in (r[s], o[s]) if x > 0]
            r[s] = min(firsts) if firsts else 0.0
        for s in (Slot.LAST_SEEN, Slot.LAST_ORDER_TS, Slot.LAST_VIEW_TS, Slot.LAST_ADD_TS,
                  Slot.CHECKOUT_TS):
            r[s] = max(r[s], o[s])
        for i in range(self.traits, self.n_slots):
            if r[i] == 0.0:
                r[i] = o[i]
        if o[Slot.LAST_SEEN] >= r[Slot.SESSION_START]:
            # the anonymous session is the live one: keep its cart, session and context
            for s in (Slot.SESSION_START, Slot.SESSION_EVENTS, Slot.CART_VALUE, Slot.CART_ITEMS,
                      Slot.DEVICE, Slot.TZ_OFFSET_H):
                r[s] = o[s]
            if other.stage > state.stage or state.row[Slot.ORDERS] == o[Slot.ORDERS]:
                state.stage, r[Slot.STAGE_SINCE] = other.stage, o[Slot.STAGE_SINCE]
        state.region = state.region or other.region
        state.first_name = state.first_name or other.first_name
        state.consent_granted |= other.consent_granted & ~state.consent_denied
        state.consent_denied |= other.consent_denied
        state.consent_granted &= ~state.consent_denied
        state.contacts = sorted(state.contacts + other.contacts, key=lambda c: c.ts)[-32:]
        for t, ts in other.last_sent.items():
            state.last_sent[t] = max(ts, state.last_sent.get(t, 0.0))
        for a, (n, ts) in other.ignores.items():
            m, _ = state.ignores.get(a, (0.0, ts))
            state.ignores[a] = (m + n, max(ts, now))
        for mine, theirs in ((state.viewed, other.viewed), (state.added, other.added),
                             (state.bought, other.bought)):
            for item in theirs:
                if item not in mine:
                    mine.append(item)
            del mine[:-RECENT_ITEMS]
        state.pending += other.pending
        for name, due in other.timers.items():
            state.timers.setdefault(name, due)


_WINDOW = dict(WINDOWED)


@dataclass(slots=True)
class Contact:
    """A decision delivered to the customer (for caps): by stable names, so a catalog that
    changes between runs still counts it on the right channel."""

    ts: float
    action: str
    channel: str


@dataclass(slots=True)
class Pending:
    """A decision waiting for its outcome, then for conversions inside its attribution window.

    `respond_by` ends the response window (no response by then: label 0, on event time);
    `attribute_by` ends the attribution window (its realized value is final then).
    """

    decision_id: str
    tid: str
    """The treatment's stable id (`action@channel`); the indices below follow the catalog
    in use and are re-derived from it on resume (`engine.recovery`)."""
    treatment: int
    action: int
    channel: int
    ts: float
    policy: str
    x: np.ndarray
    c: np.ndarray
    probability: float
    respond_by: float
    attribute_by: float
    viewed: bool = False
    responded: bool = False
    resolved: bool = False
    value: float = 0.0
    converted: bool = False

    @property
    def due(self) -> float:
        """When this decision next needs event time to pass (label, then final value)."""
        return self.attribute_by if self.resolved else self.respond_by


class CustomerState:
    """Everything Journey keeps about one customer (keyed by a hash of the customer id)."""

    __slots__ = (
        "added",
        "bought",
        "consent_denied",
        "consent_granted",
        "contacts",
        "customer_id",
        "devices",
        "first_name",
        "ignores",
        "known",
        "last_sent",
        "pending",
        "region",
        "row",
        "stage",
        "timers",
        "viewed",
    )

    def __init__(self, customer_id: str, *, known: bool, slots: int) -> None:
        self.customer_id = customer_id
        self.known = known
        self.row = np.zeros(slots, dtype=np.float64)
        self.stage = 0
        self.region: str | None = None
        self.first_name: str | None = None
        self.consent_granted = 0  # bit per channel, in the catalog's channel order
        self.consent_denied = 0
        self.contacts: list[Contact] = []
        self.last_sent: dict[str, float] = {}
        """Treatment id → time of its last delivery (cooldowns per action or per channel)."""
        self.ignores: dict[str, tuple[float, float]] = {}
        """Action id → (ignored decisions, decayed to the time beside it)."""
        self.pending: list[Pending] = []
        self.timers: dict[str, float] = {}
        self.viewed: list[str] = []
        self.added: list[str] = []
        self.bought: list[str] = []
        self.devices: list[str] = []
        """State keys (keyed hashes) of the devices linked to her, latest last."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a snapshot from an older version lacks newer fields: they start empty (schema
        # migration by defaults); fields a newer version dropped are ignored
        fresh = CustomerState(state.get("customer_id", ""), known=bool(state.get("known")),
                              slots=len(state.get("row", ())))
        for k in self.__slots__:
            setattr(self, k, state[k] if k in state else getattr(fresh, k))

    def __repr__(self) -> str:
        return f"CustomerState(stage={self.stage}, orders={int(self.row[Slot.ORDERS])})"

    def remember(self, kind: str, item: str) -> None:
        """Record an item id in the viewed/added/bought list (bounded, newest last)."""
        items: list[str] = getattr(self, kind)
        if item in items:
            items.remove(item)
        items.append(item[:64])
        del items[:-RECENT_ITEMS]
