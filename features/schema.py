"""The event model: Segment-spec calls plus Journey's `context` record.

Segment calls (https://segment.com/docs/connections/spec/): `track`, `identify`, `page`,
`screen`, `alias`, `group`. Journey adds `context` for regional signals (weather, ...)::

    {"type": "context", "region": "eu-west", "timestamp": "...", "signals": {"rain": 1}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ECOMMERCE_EVENTS",
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "Decoded",
    "Event",
    "RawRecord",
]

MAX_EVENT_BYTES = 32 * 1024
"""Segment's per-event limit; larger records are dead-lettered as `oversized`."""

EVENT_TYPES = frozenset({"track", "identify", "page", "screen", "alias", "group", "context"})

ECOMMERCE_EVENTS = frozenset(
    {
        "Products Searched",
        "Product List Viewed",
        "Product List Filtered",
        "Promotion Viewed",
        "Promotion Clicked",
        "Product Clicked",
        "Product Viewed",
        "Product Added",
        "Product Removed",
        "Cart Viewed",
        "Checkout Started",
        "Checkout Step Viewed",
        "Checkout Step Completed",
        "Payment Info Entered",
        "Order Updated",
        "Order Completed",
        "Order Refunded",
        "Order Cancelled",
        "Coupon Entered",
        "Coupon Applied",
        "Product Added to Wishlist",
        "Product Shared",
        "Cart Shared",
        "Product Reviewed",
    }
)
"""Segment's e-commerce v2 event names (others are accepted and counted as custom)."""


@dataclass(slots=True)
class Event:
    """One validated input record. Timestamps are epoch seconds of event time."""

    type: str
    ts: float
    message_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None
    name: str | None = None
    previous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Metric label: the call type, or `track` events by e-commerce name or `custom`."""
        if self.type != "track":
            return self.type
        return "ecommerce" if self.event in ECOMMERCE_EVENTS else "custom"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Undecoded input as a source read it: bytes, which stream, and where from."""

    payload: bytes
    stream: str = "events"
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded event travelling through the flow with its original bytes and origin."""

    event: Event
    origin: str
    payload: bytes
