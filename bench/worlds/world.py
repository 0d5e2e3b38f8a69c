"""A config-driven world: seeded Segment events out, reactions to decisions back, an oracle.

    world = World(load_config("bench/worlds/offers.yaml"), seed=21)
    catalog_path = world.write_catalog(tmp_dir)          # Journey catalog v2 (+ products)
    for event in world.events():                         # event-time order
        for d in engine.process(event):
            world.deliver(d.to_dict())                   # clicks and conversions, later
    world.expected_net_value(d.customer_id, d.action_id, d.channel, d.ts)   # for regret

Visits: each customer returns after an exponential gap (their own mean), at their active
hours; a visit is an identify (first time), domain events, product views in the category
strings of the world (tastes drive what they browse) and one page call whose
`properties.placement` asks for a decision. Support tickets raise or lower a hidden churn
risk; churn ends the customer. Decisions delivered get a `Promotion Viewed`, maybe a
`Promotion Clicked` after the channel's delay, maybe the conversion event with `revenue`
later. Every random draw comes from per-customer streams, so visit schedules are the same
whichever policy runs, and the same seed gives the same events. Nothing touches the clock.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bench.worlds.catalog import catalog_document, products, write_catalog
from bench.worlds.config import ActionSpec, WorldConfig
from bench.worlds.customers import (
    Customer,
    draw_customer,
    expected_value,
    latent,
    response_probabilities,
    response_probability,
)

__all__ = ["World"]

DAY = 86400.0


def iso(ts: float) -> str:
    """ISO-8601 UTC with a Z, milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


class World:
    """One seeded run of a world config (see the module docstring)."""

    def __init__(self, config: WorldConfig, *, seed: int, customers: int | None = None,
                 days: float | None = None) -> None:
        self.config = cfg = config
        self.name = cfg.name
        self.seed = seed
        self.days = float(days if days is not None else cfg.days)
        self.start = cfg.start
        self.end = cfg.start + self.days * DAY
        self.actions: dict[str, ActionSpec] = {a.id: a for a in cfg.actions}
        self.customers = [draw_customer(cfg, seed, i)
                          for i in range(customers if customers is not None else cfg.customers)]
        self._by_user = {c.user: c for c in self.customers}
        self._products = products(cfg)
        self._queue: list[tuple[float, int, int, str, dict[str, Any]]] = []
        self._seq = 0
        self.clock = self.start
        self.requests = 0
        self.delivered = 0
        self.realized: dict[str, float] = {}
        """Realized net value of every delivered decision, by decision id."""
        for c in self.customers:
            first = self.start + c.visits.expovariate(1.0 / (c.gap_days * DAY))
            self._push(self._active(c, first, self.start), c.idx, "visit", {})
            if cfg.support is not None:
                self._push(self.start + c.visits.expovariate(1.0 / (cfg.support.gap_days * DAY)),
                           c.idx, "ticket", {})

    # ----------------------------------------------------------------- catalog

    def catalog_document(self) -> dict[str, Any]:
        """The Journey catalog (schema v2) this world is run under, as a mapping."""
        return catalog_document(self.config)

    def write_catalog(self, folder: str | Path) -> Path:
        """Write `catalog.yaml` (and `products.jsonl`) into `folder`; return the catalog path."""
        return write_catalog(self.config, Path(folder))

    # ----------------------------------------------------------------- public

    def events(self) -> Iterator[dict[str, Any]]:
        """Every record in event-time order, until the horizon has passed and every pending
        reaction has been emitted."""
        while self._queue:
            ts, _, idx, kind, data = heapq.heappop(self._queue)
            self.clock = max(self.clock, ts)
            c = self.customers[idx]
            if kind == "record":
                yield data
            elif kind == "visit":
                self._visit(c, ts)
            elif kind == "ticket":
                self._ticket(c, ts)
            elif kind == "effect":
                c.risk += data["risk"]

    def deliver(self, decision: Mapping[str, Any]) -> None:
        """Show a decision to its customer; schedule what they do about it."""
        c = self._by_user.get(str(decision.get("customer_id", "")))
        a = self.actions.get(str(decision.get("action_id", "")))
        ch = self.config.channels.get(str(decision.get("channel", "")))
        if c is None or a is None or ch is None:
            return
        ts = max(_ts(decision["ts"]), self.clock)
        p = response_probability(self.config, c, a, ch, ts)
        c.contacts.append((ts, ch.fatigue))
        c.contacts = c.contacts[-64:]
        self.delivered += 1
        r = c.responses
        # a fixed number of draws per delivery keeps the streams aligned across policies
        u_respond, u_delay, u_convert, u_value, u_later = (r.random() for _ in range(5))
        did = str(decision.get("decision_id", ""))
        props = {"decision_id": did, "action_id": a.id, "promotion_id": a.id,
                 "channel": ch.name}
        lo, hi = ch.delay
        self._record(c, ts + min(lo, 30.0) / 2, "track", "Promotion Viewed", props)
        self.realized[did] = -ch.cost
        if u_respond >= p:
            return
        if a.conversion is None:
            self.realized[did] += a.value
        clicked = ts + lo + (hi - lo) * u_delay
        self._record(c, clicked, "track", "Promotion Clicked", props)
        for name, delta in a.effects.items():
            if name == "risk":
                self._push(clicked, c.idx, "effect", {"risk": delta})
        conv = a.conversion
        if conv is None or u_convert >= conv.p:
            return
        if conv.price:
            lo_p, hi_p = self.config.categories[a.category].price
            revenue = (lo_p + (hi_p - lo_p) * u_value) * (1.0 - a.discount)
        else:
            revenue = conv.value[0] + (conv.value[1] - conv.value[0]) * u_value
        at = clicked + conv.delay[0] + (conv.delay[1] - conv.delay[0]) * u_later
        self.realized[did] += round(revenue, 2)
        self._record(c, at, "track", conv.event, {
            "decision_id": did, "action_id": a.id, "order_id": f"o-{did[:12]}",
            "revenue": round(revenue, 2), "currency": "EUR", "category":
            self.config.categories[a.category].paths[0]})

    def expected_net_value(self, customer_id: str, action_id: str, channel: str,
                           ts: float | str) -> float:
        """Oracle: P(response) × E[conversion value | response] − channel cost, for the
        customer as they are at `ts` (the decision's time: the world's current clock)."""
        c = self._by_user[customer_id]
        a = self.actions[action_id]
        ch = self.config.channels[channel]
        p = response_probability(self.config, c, a, ch, _ts(ts))
        return p * expected_value(self.config, a) - ch.cost

    def knows(self, customer_id: str) -> bool:
        """Whether `customer_id` is one of this world's customers."""
        return customer_id in self._by_user

    def expected_net_values(self, customer_id: str, pairs: list[tuple[str, str]],
                            ts: float | str) -> list[float]:
        """`expected_net_value` of many (action id, channel) pairs at once."""
        c = self._by_user[customer_id]
        specs = [(self.actions[a], self.config.channels[ch]) for a, ch in pairs]
        ps = response_probabilities(self.config, c, specs, _ts(ts))
        return [p * expected_value(self.config, a) - ch.cost
                for p, (a, ch) in zip(ps, specs, strict=True)]

    def response_probability(self, customer_id: str, action_id: str, channel: str,
                             ts: float | str) -> float:
        """Oracle: P(response) at `ts`."""
        c = self._by_user[customer_id]
        return response_probability(self.config, c, self.actions[action_id],
                                    self.config.channels[channel], _ts(ts))

    # ----------------------------------------------------------------- internals

    def _push(self, ts: float, idx: int, kind: str, data: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (ts, self._seq, idx, kind, data))

    def _record(self, c: Customer, ts: float, kind: str, event: str | None,
                fields: dict[str, Any], **extra: Any) -> None:
        mid = hashlib.blake2b(f"{self.name}/{self.seed}/{self._seq}".encode(),
                              digest_size=10).hexdigest()
        rec: dict[str, Any] = {"type": kind, "messageId": mid, "userId": c.user,
                               "timestamp": iso(ts), "context": {"timezone": c.tz}}
        if event is not None:
            rec["event"] = event
        rec["traits" if kind == "identify" else "properties"] = fields
        rec.update(extra)
        self._push(ts, c.idx, "record", rec)

    def _active(self, c: Customer, ts: float, after: float) -> float:
        """`ts` moved to the customer's active hours on its local day, no earlier than
        `after` (then a day later)."""
        zone = ZoneInfo(c.tz)
        day = datetime.fromtimestamp(ts, UTC).astimezone(zone).replace(
            hour=0, minute=0, second=0, microsecond=0)
        hour = (c.peak + c.visits.gauss(0.0, self.config.behaviour.hour_spread)) % 24.0
        at = (day + timedelta(hours=hour)).timestamp()
        while at <= after:
            at += DAY
        return at

    def _churns(self, c: Customer, ts: float) -> bool:
        churn = self.config.churn
        if churn is None or c.churned_at is not None:
            return c.churned_at is not None
        days = max(ts - max(c.last_check, self.start), 0.0) / DAY
        c.last_check = ts
        hazard = churn.daily * math.exp(churn.risk_weight * c.risk)
        if c.visits.random() < 1.0 - math.exp(-hazard * days):
            c.churned_at = ts
            self._record(c, ts, "track", churn.event, {"reason": "churn"})
            return True
        return False

    def _visit(self, c: Customer, ts: float) -> None:
        if ts >= self.end or self._churns(c, ts):
            return
        cfg, rng = self.config, c.visits
        t = ts
        if not c.identified:
            c.identified = True
            self._record(c, t, "identify", None, self._traits(c, t))
            t += 5.0
        for ev in cfg.events:
            if rng.random() < _sigmoid(ev.base + ev.weight * latent(cfg, c, ev.latent, t)):
                t += 5.0 + 20.0 * rng.random()
                props = {name: round(b + s * latent(cfg, c, lat, t) + rng.gauss(0.0, n), 3)
                         for name, (lat, b, s, n) in ev.properties.items()}
                self._record(c, t, "track", ev.event, props)
        t = self._views(c, t + 10.0) + 30.0 + 90.0 * rng.random()
        self.requests += 1
        self._record(c, t, "page", None, {"placement": cfg.placement}, name="Visit")
        gap = rng.expovariate(1.0 / (c.gap_days * DAY))
        self._push(self._active(c, t + gap, t + 3600.0), c.idx, "visit", {})

    def _views(self, c: Customer, t: float) -> float:
        """Product views of one visit from `t`; returns the time of the last one."""
        cfg, rng = self.config, c.visits
        b = cfg.behaviour
        taste = c.taste_after if b.drift_at is not None and t >= self.start + \
            b.drift_at * self.days * DAY else c.taste
        w = np.exp(b.view_focus * (taste - taste.max()))
        weights = (w / w.sum()).tolist()
        ids = list(cfg.categories)
        n = 1 + min(int(rng.expovariate(1.0 / max(b.views - 1.0, 1e-6))), 8)
        for _ in range(n):
            t += 15.0 + 60.0 * rng.random()
            if cfg.noise_paths and rng.random() < 0.1:
                path, pid, price = rng.choice(cfg.noise_paths), f"misc-{rng.randrange(40)}", 9.0
            else:
                cat = ids[rng.choices(range(len(ids)), weights)[0]]
                path = rng.choice(cfg.categories[cat].paths)
                pid, price = rng.choice(self._products[cat])
            self._record(c, t, "track", "Product Viewed",
                         {"product_id": pid, "category": path, "price": price})
        return t

    def _traits(self, c: Customer, ts: float) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}/traits/{c.idx}")
        out: dict[str, Any] = {"firstName": f"Customer{c.idx}",
                               "consent": dict(sorted(c.consent.items()))}
        for t in self.config.traits:
            z = latent(self.config, c, t.latent, ts) + rng.gauss(0.0, t.noise)
            if t.type == "numeric":
                out[t.name] = round(t.base + t.scale * z, 2)
            elif t.type == "boolean":
                out[t.name] = z > t.threshold
            else:  # categorical: equal-probability bins of a unit normal
                k = len(t.values)
                q = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0 * (1.0 + t.noise**2))))
                out[t.name] = t.values[min(int(q * k), k - 1)]
        return out

    def _ticket(self, c: Customer, ts: float) -> None:
        sup = self.config.support
        assert sup is not None
        if ts >= self.end or c.churned_at is not None:
            return
        rng = c.visits
        bad = rng.random() < sup.bad
        topic = rng.choice(sup.topics)
        self._record(c, ts, "track", "Support Ticket Opened", {"topic": topic})
        closed = ts + sup.resolve[0] + (sup.resolve[1] - sup.resolve[0]) * rng.random()
        self._record(c, closed, "track", "Ticket Closed", {"topic": topic, "resolved": not bad})
        self._push(closed, c.idx, "effect", {"risk": sup.risk_bad if bad else sup.risk_good})
        score = rng.randint(1, 5) if bad else rng.randint(7, 10)
        self._record(c, closed + 3600.0, "track", "Survey Answered", {"score": score})
        self._push(ts + rng.expovariate(1.0 / (sup.gap_days * DAY)), c.idx, "ticket", {})
