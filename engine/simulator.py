"""A seeded world of shoppers for closed-loop runs: journeys in, reactions to decisions out.

Personas have hidden preferences (category, price sensitivity, channel responsiveness, the
kinds of action they answer). Customers browse in sessions, search, view, fill and abandon
carts, order, get deliveries, return goods, review, contact support and lapse; they react to
the decisions delivered to them with impressions, clicks and orders. Nothing touches the
clock or the network: the same seed gives the same events, and `true_response` is the
oracle for regret.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.catalog import Catalog

__all__ = ["PERSONAS", "Persona", "Simulator"]

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "sports", "toys", "other")
"""The category strings this shop's events carry (the default catalog declares the first
seven; "other" is not declared and lands in a hash bucket)."""
DAY = 86400.0
_REGIONS = (("eu-west", "Europe/Paris"), ("eu-north", "Europe/Stockholm"),
            ("us-east", "America/New_York"), ("us-west", "America/Los_Angeles"))


@dataclass(frozen=True, slots=True)
class Persona:
    """Hidden preferences of a segment of shoppers."""

    name: str
    weight: float
    visit_days: float          # mean days between sessions
    buy_rate: float            # P(order | cart) per session
    price: float               # typical item price
    age: tuple[int, int]
    device: str
    kinds: dict[str, float]    # responsiveness multiplier by action kind
    actions: dict[str, float]  # and by specific action id
    channels: dict[str, float]  # and by channel
    coupons: float             # P(coupon entered | cart)


PERSONAS: tuple[Persona, ...] = (
    Persona("bargain_hunter", 0.30, 3.0, 0.25, 30.0, (18, 35), "mobile",
            {"offer": 2.2, "content": 0.5, "message": 0.8, "service": 0.7},
            {"cart_free_shipping": 2.0, "win_back_discount": 1.8, "welcome_first_order": 1.6},
            {"push": 1.8, "app": 1.5, "sms": 1.2, "email": 0.6, "web": 1.0}, 0.6),
    Persona("loyalist", 0.20, 5.0, 0.55, 80.0, (35, 60), "desktop",
            {"offer": 0.9, "content": 1.0, "message": 1.3, "service": 1.5},
            {"loyalty_reward": 3.0, "referral_invite": 2.5, "vip_concierge_call": 2.0,
             "review_request": 2.0},
            {"email": 1.8, "web": 1.2, "voice": 1.5, "push": 0.5, "sms": 0.6}, 0.05),
    Persona("browser", 0.25, 2.0, 0.10, 50.0, (20, 45), "mobile",
            {"offer": 0.7, "content": 2.2, "message": 1.0, "service": 0.6},
            {"new_arrivals_browse": 2.2, "rainy_day_indoor": 2.0, "compare_bestsellers": 1.5},
            {"app": 1.8, "push": 1.2, "web": 1.3, "email": 0.7}, 0.1),
    Persona("researcher", 0.15, 2.5, 0.30, 150.0, (28, 55), "desktop",
            {"offer": 0.6, "content": 1.6, "message": 0.8, "service": 2.0},
            {"size_guide_help": 2.5, "compare_bestsellers": 2.5, "bnpl_offer": 2.2,
             "checkout_assist": 2.0},
            {"web": 1.6, "chatbot": 2.0, "email": 1.0, "push": 0.4}, 0.1),
    Persona("impulse", 0.10, 1.5, 0.45, 40.0, (18, 30), "mobile",
            {"offer": 1.6, "content": 1.2, "message": 1.4, "service": 0.5},
            {"cart_reminder": 2.5, "post_purchase_cross_sell": 2.2, "upgrade_premium": 1.8},
            {"push": 2.0, "app": 1.6, "sms": 1.5, "email": 0.5}, 0.2),
)
_KIND_BASE = {"offer": 0.05, "content": 0.035, "message": 0.04, "service": 0.06}


@dataclass(slots=True)
class _Customer:
    idx: int
    persona: Persona
    anon: str
    user: str
    region: int
    category: int
    age: int
    consent: dict[str, bool]
    known: bool = False
    cart: list[tuple[str, float, int]] = field(default_factory=list)
    orders: int = 0
    boost: float = 1.0  # raised by a click: the next session converts more


class Simulator:
    """Deterministic customer journeys for one partition of a customer population."""

    def __init__(self, catalog: Catalog, *, seed: int = 7, customers: int = 1000,
                 partition: int = 0, partitions: int = 1, bad_rate: float = 0.0,
                 context_every: float = 3 * 3600.0) -> None:
        self.catalog = catalog
        self._kind = {a.id: a.kind for a in catalog.actions}
        self._rng = random.Random(f"{seed}/{partition}")
        self._seed = seed
        self.partition = partition
        self.bad_rate = bad_rate
        self._queue: list[tuple[float, int, int, str, dict[str, Any]]] = []
        self._seq = 0
        self._msg = 0
        self.clock = START
        self.customers: dict[int, _Customer] = {}
        self._by_user: dict[str, _Customer] = {}
        weights = [p.weight for p in PERSONAS]
        for i in range(partition, customers, partitions):
            rng = random.Random(f"{seed}/c{i}")
            persona = rng.choices(PERSONAS, weights)[0]
            c = _Customer(
                idx=i, persona=persona, anon=f"anon-{seed}-{i}", user=f"user-{seed}-{i}",
                region=rng.randrange(len(_REGIONS)), category=rng.randrange(len(CATEGORIES) - 1),
                age=rng.randint(*persona.age),
                consent={"email": rng.random() < 0.7, "push": rng.random() < 0.5,
                         "sms": rng.random() < 0.3, "voice": rng.random() < 0.15})
            self.customers[i] = c
            self._by_user[c.user] = c
            self._push(START + rng.expovariate(1.0 / (persona.visit_days * DAY)), i, "session")
        self._context_every = context_every
        self._rain = [False] * len(_REGIONS)
        if partition == 0:
            self._push(START, -1, "context")

    # ----------------------------------------------------------------- public

    def events(self, limit: int) -> Iterator[dict[str, Any] | bytes]:
        """Up to `limit` records in event-time order (bytes only for injected bad records)."""
        n = 0
        while self._queue and n < limit:
            ts, _, idx, kind, data = heapq.heappop(self._queue)
            self.clock = max(self.clock, ts)
            for rec in self._step(ts, idx, kind, data):
                yield rec
                n += 1
                if self.bad_rate and self._rng.random() < self.bad_rate:
                    yield self._bad(ts)
                    n += 1

    def deliver(self, decision: dict[str, Any]) -> None:
        """Show a decision to its customer: schedule an impression and maybe a response."""
        c = self._by_user.get(decision.get("customer_id", ""))
        if c is None:
            return
        ts = max(_parse_ts(decision["ts"]), self.clock)
        p = self.true_response(c.idx, decision["action_id"], decision["channel"])
        self._push(ts + 30.0, c.idx, "viewed", decision)
        if self._rng.random() < p:
            self._push(ts + 60.0 + self._rng.random() * 3600.0, c.idx, "clicked", decision)

    def true_response(self, idx: int, action_id: str, channel: str) -> float:
        """The oracle: P(response) of customer `idx` to an action on a channel."""
        c = self.customers[idx]
        kind = self._kind.get(action_id, "message")
        p = _KIND_BASE[kind] * c.persona.kinds.get(kind, 1.0)
        p *= c.persona.actions.get(action_id, 0.7) * c.persona.channels.get(channel, 0.5)
        return min(p, 0.9)

    # ----------------------------------------------------------------- internals

    def _push(self, ts: float, idx: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (ts, self._seq, idx, kind, data or {}))

    def _record(self, c: _Customer, ts: float, kind: str, **fields: Any) -> dict[str, Any]:
        self._msg += 1
        region, tz = _REGIONS[c.region]
        rec: dict[str, Any] = {
            "type": kind,
            "messageId": hashlib.blake2b(f"{self._seed}/{self.partition}/{self._msg}".encode(),
                                         digest_size=10).hexdigest(),
            "timestamp": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z"),
            "anonymousId": c.anon,
            "context": {"device": {"type": c.persona.device}, "timezone": tz,
                        "location": {"region": region}},
        }
        if c.known:
            rec["userId"] = c.user
        rec.update(fields)
        return rec

    def _bad(self, ts: float) -> bytes:
        kind = self._rng.randrange(4)
        stamp = datetime.fromtimestamp(ts, UTC).isoformat()
        if kind == 0:
            return b'{"type": "track", "event": "Product Viewed", "userId": '  # truncated
        if kind == 1:
            return f'{{"type":"track","event":"Order Completed","timestamp":"{stamp}"}}'.encode()
        if kind == 2:
            return f'{{"type":"teleport","userId":"x","timestamp":"{stamp}"}}'.encode()
        return f'{{"type":"track","event":"Product Added","userId":"x","timestamp":"{stamp}",' \
               f'"properties":{{"price":"free"}}}}'.encode()

    def _step(self, ts: float, idx: int, kind: str,
              data: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if kind == "context":
            yield from self._context(ts)
            return
        c = self.customers[idx]
        if kind == "session":
            yield from self._session(c, ts)
        elif kind == "viewed":
            yield self._record(c, ts, "track", event="Promotion Viewed",
                               properties={"decision_id": data["decision_id"],
                                           "promotion_id": data["action_id"]})
        elif kind == "clicked":
            c.boost = 3.0
            yield self._record(c, ts, "track", event="Promotion Clicked",
                               properties={"decision_id": data["decision_id"],
                                           "promotion_id": data["action_id"]})
            self._push(ts + 120.0, idx, "session")
        elif kind == "delivered":
            yield self._record(c, ts, "track", event="Order Delivered",
                               properties={"order_id": data["order_id"]})
            if self._rng.random() < 0.06:
                self._push(ts + 3 * DAY, idx, "returned", {"order_id": data["order_id"]})
            elif self._rng.random() < 0.35:
                rating = self._rng.choice((1, 2, 4, 5, 5)) if c.persona.name != "loyalist" else 5
                self._push(ts + 2 * DAY, idx, "review", {"rating": rating})
        elif kind == "returned":
            yield self._record(c, ts, "track", event="Product Returned",
                               properties={"order_id": data["order_id"]})
        elif kind == "review":
            event = "Product Reviewed" if data["rating"] > 2 else "Support Contacted"
            yield self._record(c, ts, "track", event=event,
                               properties={"rating": data["rating"]})

    def _context(self, ts: float) -> Iterator[dict[str, Any]]:
        hour = (ts - START) / 3600.0
        for i, (region, _) in enumerate(_REGIONS):
            flip = self._rng.random() < 0.15
            self._rain[i] = not self._rain[i] if flip else self._rain[i]
            temp = 12.0 + 8.0 * math.sin(2 * math.pi * (hour / 24.0 + i / 4.0))
            yield {"type": "context", "region": region,
                   "timestamp": datetime.fromtimestamp(ts, UTC).isoformat(),
                   "signals": {"rain": 1.0 if self._rain[i] else 0.0,
                               "temperature_c": round(temp, 1)}}
        self._push(ts + self._context_every, -1, "context")

    def _session(self, c: _Customer, ts: float) -> Iterator[dict[str, Any]]:
        rng, p = self._rng, c.persona
        t = ts
        surface = "screen" if p.device == "mobile" else "page"
        home = "app_home" if surface == "screen" else "home_hero"
        product = "app_product" if surface == "screen" else "product_page"
        yield self._record(c, t, surface, name="Home", properties={"placement": home})
        if not c.known and rng.random() < 0.35:
            c.known = True
            t += 20.0
            yield self._record(c, t, "identify", userId=c.user, traits={
                "firstName": f"Customer{c.idx}", "age": c.age,
                "loyalty_tier": "gold" if p.name == "loyalist" else "bronze",
                "consent": c.consent})
        category = CATEGORIES[c.category] if rng.random() < 0.75 else rng.choice(CATEGORIES)
        if rng.random() < 0.5:
            t += 15.0 + rng.random() * 40.0
            yield self._record(c, t, "track", event="Products Searched",
                               properties={"query": category})
        for _ in range(1 + int(rng.expovariate(0.5))):
            t += 20.0 + rng.random() * 90.0
            sku = f"{category}-{rng.randrange(50)}"
            price = round(p.price * (0.5 + rng.random()), 2)
            yield self._record(c, t, "track", event="Product Viewed",
                               properties={"product_id": sku, "category": category,
                                           "price": price})
            if rng.random() < 0.3:
                t += 5.0
                yield self._record(c, t, surface, name="Product", properties={
                    "placement": product, "product_id": sku})
            if rng.random() < 0.25 * c.boost:
                t += 10.0 + rng.random() * 30.0
                c.cart.append((sku, price, 1))
                yield self._record(c, t, "track", event="Product Added",
                                   properties={"product_id": sku, "category": category,
                                               "price": price, "quantity": 1})
        if c.cart and rng.random() < p.coupons:
            t += 15.0
            yield self._record(c, t, "track", event="Coupon Entered",
                               properties={"coupon_id": "SAVE10"})
        if c.cart and rng.random() < min(p.buy_rate * c.boost, 0.95):
            t += 30.0
            total = round(sum(pr * q for _, pr, q in c.cart), 2)
            yield self._record(c, t, "track", event="Checkout Started",
                               properties={"value": total})
            t += 60.0 + rng.random() * 120.0
            c.orders += 1
            order_id = f"o-{c.idx}-{c.orders}"
            yield self._record(c, t, "track", event="Order Completed", properties={
                "order_id": order_id, "revenue": total, "currency": "EUR",
                "products": [{"product_id": s, "price": pr, "quantity": q}
                             for s, pr, q in c.cart]})
            c.cart.clear()
            self._push(t + (2 + rng.random() * 3) * DAY, c.idx, "delivered",
                       {"order_id": order_id})
            if rng.random() < 0.06:
                self._push(t + 6 * DAY, c.idx, "review", {"rating": 1})
        c.boost = 1.0
        gap = rng.expovariate(1.0 / (p.visit_days * DAY))
        if rng.random() < 0.05:
            gap += 35 * DAY  # lapses
        self._push(t + 1800.0 + gap, c.idx, "session")


def _parse_ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


