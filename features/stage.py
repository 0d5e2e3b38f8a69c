"""Journey stages and their inference from behaviour (event time only)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Stage", "infer_stage"]

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
