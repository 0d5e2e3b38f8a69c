"""Journey stages: the retail journey inferred from behaviour, or a lifecycle the catalog
declares (stages, the events that move a customer between them, time in a stage).

Both are a `Lifecycle`: `next(stage, since, now, event, ...)` on event time only; stages
are indices into `Lifecycle.stages`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["DeclaredLifecycle", "Lifecycle", "RetailLifecycle", "Stage", "Transition",
           "infer_stage"]

DAY = 86400.0


class Stage(IntEnum):
    """The customer-journey stages, in a fixed order (vector one-hot follows it)."""

    AWARENESS = 0
    RESEARCH = 1
    EVALUATION = 2
    PURCHASE = 3
    DELIVERY = 4
    USE = 5
    SUPPORT = 6
    RETENTION = 7
    ADVOCACY = 8
    UPSELL = 9
    RETARGETING = 10

    @property
    def label(self) -> str:
        """Lower-case name used in catalogs and decision records."""
        return self.name.lower()


_RESEARCH = frozenset({"Products Searched", "Product List Viewed", "Product List Filtered",
                       "Product Viewed", "Product Clicked"})
_EVALUATION = frozenset({"Product Added", "Cart Viewed", "Product Added to Wishlist",
                         "Coupon Entered", "Coupon Applied", "Product Removed"})
_PURCHASE = frozenset({"Checkout Started", "Checkout Step Viewed", "Checkout Step Completed",
                       "Payment Info Entered"})
_SUPPORT = frozenset({"Support Contacted", "Ticket Opened", "Order Refunded", "Order Cancelled",
                      "Product Returned", "Chat Started"})
_ADVOCACY = frozenset({"Product Shared", "Cart Shared", "Referral Sent"})
_DELIVERED = frozenset({"Order Delivered", "Shipment Delivered"})
_OWNED = (Stage.DELIVERY, Stage.USE, Stage.RETENTION, Stage.ADVOCACY, Stage.UPSELL,
          Stage.SUPPORT)

INACTIVE_AFTER = 30 * DAY
"""A customer unseen for this long is in retargeting when they come back (or by timer)."""


def infer_stage(
    stage: Stage,
    since: float,
    now: float,
    event: str | None,
    *,
    orders: int,
    rating: float | None,
    last_seen: float,
) -> Stage:
    """Next stage from the current one, the event name and a few counters.

    `last_seen` is the time of the customer's previous event (before this one); `event` is
    the track name (None for page/screen/identify).
    """
    if last_seen > 0 and now - last_seen > INACTIVE_AFTER and event is None:
        return Stage.RETARGETING
    if event in _SUPPORT or (event == "Product Reviewed" and rating is not None and rating <= 2):
        return Stage.SUPPORT
    if event == "Order Completed":
        return Stage.DELIVERY
    if event in _DELIVERED:
        return Stage.USE
    if event in _ADVOCACY or (event == "Product Reviewed" and rating is not None and rating >= 4):
        return Stage.ADVOCACY
    if event in _PURCHASE:
        return Stage.PURCHASE
    if event in _EVALUATION:
        return stage if stage == Stage.PURCHASE else Stage.EVALUATION
    if event in _RESEARCH:
        if orders > 0 and stage in _OWNED:
            return Stage.UPSELL
        if stage in (Stage.AWARENESS, Stage.RETARGETING):
            return Stage.RESEARCH
        return stage
    return _age(stage, since, now, orders)


def _age(stage: Stage, since: float, now: float, orders: int) -> Stage:
    """Transitions that follow from time passing in a stage."""
    held = now - since
    if stage == Stage.DELIVERY and held > 5 * DAY:
        return Stage.USE
    if stage == Stage.SUPPORT and held > 7 * DAY:
        return Stage.RETENTION if orders > 0 else Stage.RESEARCH
    if stage in (Stage.USE, Stage.ADVOCACY) and held > 14 * DAY:
        return Stage.RETENTION
    return stage


class Lifecycle:
    """How a customer moves through stages; `stages[i]` names stage `i`."""

    stages: tuple[str, ...]
    initial: int = 0
    on_inactivity: int | None = None
    """The stage a customer unseen for `INACTIVE_AFTER` moves to (None: stays)."""

    def next(self, stage: int, since: float, now: float, event: str | None, *, orders: int,
             rating: float | None, last_seen: float) -> int:
        """The stage after one event (`event` is a track name, None for other calls)."""
        raise NotImplementedError

    def label(self, stage: int) -> str:
        """A stage's name, as catalogs and decision records write it."""
        return self.stages[stage]


class RetailLifecycle(Lifecycle):
    """The default: a shop's journey, inferred by `infer_stage`."""

    def __init__(self) -> None:
        self.stages = tuple(s.label for s in Stage)
        self.initial = int(Stage.AWARENESS)
        self.on_inactivity = int(Stage.RETARGETING)

    def next(self, stage: int, since: float, now: float, event: str | None, *, orders: int,
             rating: float | None, last_seen: float) -> int:
        return int(infer_stage(Stage(stage), since, now, event, orders=orders, rating=rating,
                               last_seen=last_seen))


@dataclass(frozen=True, slots=True)
class Transition:
    """Move to `to` on one of `on` (an event), or after `after` seconds in a `from_` stage."""

    to: int
    on: frozenset[str] = frozenset()
    from_: frozenset[int] | None = None
    after: float | None = None


class DeclaredLifecycle(Lifecycle):
    """Stages and transitions from the catalog: the first matching event transition wins;
    with none, the first time transition whose wait has passed."""

    def __init__(self, stages: Sequence[str], transitions: Sequence[Transition], *,
                 initial: int = 0, on_inactivity: int | None = None) -> None:
        self.stages = tuple(stages)
        self.transitions = tuple(transitions)
        self.initial = initial
        self.on_inactivity = on_inactivity

    def next(self, stage: int, since: float, now: float, event: str | None, *, orders: int,
             rating: float | None, last_seen: float) -> int:
        def applies(t: Transition) -> bool:
            return t.from_ is None or stage in t.from_

        if event is not None:
            for t in self.transitions:
                if event in t.on and applies(t):
                    return t.to
        for t in self.transitions:
            if t.after is not None and not t.on and applies(t) and now - since > t.after:
                return t.to
        return stage
