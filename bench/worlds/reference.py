"""A reference driver: a world's closed loop with a policy, without Journey's Engine.

It exists so the peers can be measured on a world on their own (and so worlds and peers
are testable apart from the core): it folds the world's events into a small per-customer
vector of its own (category view shares, domain-event and support counts, traits, consent,
recent contacts per channel, local hour), builds `crosses` (the action category's view
share, discount, discount × coupon use, recent contacts on the channel), applies the
catalog's eligibility (placement or outbound channels, trigger, consent, channel and total
caps, quiet hours, cooldown) and fires the declared triggers. Rewards are the realized net
value at the end of the attribution window, as in the Policy seam. Its numbers measure the
peers with *these* features; the Engine driver (`bench.quality`) measures them with
Journey's.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.worlds.catalog import attribution_window, catalog_document
from bench.worlds.config import WorldConfig, parse_duration
from bench.worlds.customers import local_hour
from bench.worlds.world import World, _ts

__all__ = ["ReferenceCatalog", "ReferenceChoice", "run_reference"]

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ReferenceAction:
    """What a policy may read about an action."""

    id: str
    kind: str
    category: str
    attributes: dict[str, Any]
    value: float
    triggers: frozenset[str]
    cooldown: float


class ReferenceCatalog:
    """Treatments (action × channel) of a world's catalog, in catalog order."""

    def __init__(self, cfg: WorldConfig) -> None:
        doc = catalog_document(cfg)
        default_cooldown = parse_duration(doc["defaults"].get("cooldown", 0), "cooldown")
        self.actions = [ReferenceAction(a["id"], a["kind"], a["category"], a["attributes"],
                                        float(a["value"]), frozenset(a["triggers"]),
                                        parse_duration(a.get("cooldown", default_cooldown),
                                                       "cooldown"))
                        for a in doc["actions"]]
        self.channels = cfg.channels
        self.rows = [(i, ch) for i, a in enumerate(doc["actions"]) for ch in a["channels"]]
        self.n_treatments = len(self.rows)
        self.cost = np.array([cfg.channels[ch].cost for _, ch in self.rows])
        self.value = np.array([self.actions[i].value for i, _ in self.rows])
        self.index = {(self.actions[i].id, ch): t for t, (i, ch) in enumerate(self.rows)}
        self.placements = {k: tuple(v) for k, v in doc["placements"].items()}
        self.triggers = {name: (tuple(t["on"]), parse_duration(t.get("delay", 0), name))
                         for name, t in doc["triggers"].items()}
        policy = doc["contact_policy"]
        total = policy.get("total_cap", {"count": 1000, "window": "1d"})
        self.total_cap = (int(total["count"]), parse_duration(total["window"], "total_cap"))
        quiet = policy.get("quiet_hours", {"start": 21, "end": 8})
        self.quiet = (float(quiet["start"]), float(quiet["end"]))
        self.convert = set(doc["outcomes"]["convert"])
        self.attribution = attribution_window(cfg)

    def treatment(self, t: int) -> tuple[ReferenceAction, str]:
        """The action and channel of treatment row `t`."""
        i, ch = self.rows[int(t)]
        return self.actions[i], ch


@dataclass(slots=True)
class ReferenceChoice:
    """What a decision offers a policy: the fields of `engine.policy.Choice`, plus who and
    when (for the oracle policy of the tests; peers do not read them)."""

    x: np.ndarray
    crosses: np.ndarray
    cross_names: tuple[str, ...]
    eligible: np.ndarray
    catalog: ReferenceCatalog
    feature_names: tuple[str, ...]
    customer_id: str = ""
    ts: float = 0.0


@dataclass(slots=True)
class _State:
    first: float
    decay_ts: float
    views: np.ndarray
    counts: np.ndarray
    props: np.ndarray
    traits: np.ndarray
    consent: dict[str, bool] = field(default_factory=dict)
    contacts: list[tuple[float, str]] = field(default_factory=list)
    last_action: dict[int, float] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    visits: int = 0
    survey: float = 0.0


_VIEW_TAU, _COUNT_TAU, _CONTACT_TAU = 7 * DAY, 14 * DAY, 2 * DAY
_SUPPORT_EVENTS = ("Support Ticket Opened", "Ticket Closed", "Subscription Cancelled")
CROSS_NAMES = ("category_share", "discount", "discount_x_coupons", "channel_contacts")


class _Features:
    """The reference vector layout for one world."""

    def __init__(self, cfg: WorldConfig) -> None:
        self.cfg = cfg
        self.cats = list(cfg.categories)
        self.events = [e.event for e in cfg.events] + list(_SUPPORT_EVENTS)
        self.props = [(e.event, p) for e in cfg.events for p in e.properties]
        self.trait_cols: list[tuple[str, Any]] = []
        for t in cfg.traits:
            if t.type == "categorical":
                self.trait_cols += [(t.name, v) for v in t.values]
            else:
                self.trait_cols.append((t.name, None))
        self.opt_in = [n for n, c in cfg.channels.items() if c.opt_in]
        self.channels = list(cfg.channels)
        self.names = ("bias", "visits", "tenure", "hour_sin", "hour_cos",
                      *(f"share_{c}" for c in self.cats), "views",
                      *(f"count_{e}" for e in self.events),
                      *(f"{e}.{p}" for e, p in self.props), "survey",
                      *(f"trait_{n}" + (f"={v}" if v is not None else "")
                        for n, v in self.trait_cols),
                      *(f"consent_{c}" for c in self.opt_in),
                      *(f"contacts_{c}" for c in self.channels))
        self.coupon = self.events.index("Coupon Entered") if "Coupon Entered" in self.events \
            else -1
        self.contacts0 = self.names.index(f"contacts_{self.channels[0]}")
        self._stats = np.zeros((len(self.trait_cols) + len(self.props), 3))  # n, mean, m2

    def new(self, ts: float) -> _State:
        return _State(ts, ts, np.zeros(len(self.cats)), np.zeros(len(self.events)),
                      np.zeros(len(self.props)), np.zeros(len(self.trait_cols)))

    def _scaled(self, k: int, v: float) -> float:
        """Welford running standardization of numeric column `k`."""
        s = self._stats[k]
        s[0] += 1
        delta = v - s[1]
        s[1] += delta / s[0]
        s[2] += delta * (v - s[1])
        sd = math.sqrt(s[2] / s[0]) if s[0] > 1 and s[2] > 0 else 1.0
        return (v - s[1]) / sd

    def _decay(self, s: _State, ts: float) -> None:
        dt = ts - s.decay_ts
        if dt > 0:
            s.views *= math.exp(-dt / _VIEW_TAU)
            s.counts *= math.exp(-dt / _COUNT_TAU)
            s.decay_ts = ts

    def fold(self, s: _State, rec: dict[str, Any], ts: float) -> None:
        self._decay(s, ts)
        props = rec.get("properties") or {}
        if rec["type"] == "identify":
            traits = rec.get("traits") or {}
            s.consent = {k: bool(v) for k, v in (traits.get("consent") or {}).items()}
            for k, (name, value) in enumerate(self.trait_cols):
                v = traits.get(name)
                if value is not None:
                    s.traits[k] = float(v == value)
                elif isinstance(v, bool):
                    s.traits[k] = float(v)
                elif isinstance(v, int | float):
                    s.traits[k] = self._scaled(k, float(v))
        elif rec["type"] == "page":
            s.visits += 1
        elif rec.get("event") == "Product Viewed":
            path = props.get("category")
            for i, cid in enumerate(self.cats):
                c = self.cfg.categories[cid]
                if path in c.paths or path in c.aliases or path == c.label:
                    s.views[i] += 1.0
        elif rec.get("event") == "Survey Answered":
            s.survey = (float(props.get("score", 5.5)) - 5.5) / 3.0
        elif rec.get("event") in self.events:
            s.counts[self.events.index(rec["event"])] += 1.0
            for k, (e, p) in enumerate(self.props):
                if e == rec["event"] and isinstance(props.get(p), int | float):
                    s.props[k] = self._scaled(len(self.trait_cols) + k, float(props[p]))

    def vector(self, s: _State, ts: float, tz: str) -> np.ndarray:
        self._decay(s, ts)
        hour = local_hour(ts, tz)
        total = s.views.sum()
        shares = s.views / total if total > 0 else s.views
        contacts = [sum(math.exp(-(ts - t) / _CONTACT_TAU) for t, c in s.contacts if c == ch)
                    for ch in self.channels]
        return np.array([1.0, math.log1p(s.visits) / 3.0, min((ts - s.first) / DAY, 90) / 30,
                         math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24),
                         *shares, math.log1p(total), *np.log1p(s.counts), *s.props, s.survey,
                         *s.traits, *(float(s.consent.get(c, False)) for c in self.opt_in),
                         *contacts], dtype=np.float32)

    def crosses(self, s: _State, x: np.ndarray, cat: ReferenceCatalog) -> np.ndarray:
        if not hasattr(self, "_rows"):
            acts = [cat.actions[i] for i, _ in cat.rows]
            self._rows = (np.array([self.cats.index(a.category) for a in acts]),
                          np.array([float(a.attributes.get("discount", 0.0)) for a in acts]),
                          np.array([self.channels.index(ch) for _, ch in cat.rows]))
        cat_i, disc, ch_i = self._rows
        total = s.views.sum()
        share = s.views / total if total > 0 else s.views
        coupons = math.log1p(s.counts[self.coupon]) if self.coupon >= 0 else 0.0
        return np.stack([share[cat_i], disc, disc * coupons, x[self.contacts0 + ch_i]],
                        axis=1).astype(np.float32)


def _quiet(hour: float, start: float, end: float) -> bool:
    return (start <= hour < end) if start < end else (hour >= start or hour < end)


def run_reference(world: World, policy: Any,
                  on_decision: Callable[[dict[str, Any], ReferenceChoice, int], None]
                  ) -> ReferenceCatalog:
    """Run `world` to its end with `policy` choosing every decision.

    `on_decision(decision, choice, treatment)` is called before each decision is delivered
    (the harness scores it against the oracle there).
    """
    cfg = world.config
    cat = ReferenceCatalog(cfg)
    feats = _Features(cfg)
    states: dict[str, _State] = {}
    tzs: dict[str, str] = {}
    pending: dict[str, list[Any]] = {}
    due: list[tuple[float, str]] = []
    timers: list[tuple[float, str, str]] = []
    outbound = tuple(n for n, c in cfg.channels.items() if c.outbound)

    def resolve(now: float) -> None:
        while due and due[0][0] <= now:
            _, did = heapq.heappop(due)
            choice, t, prob, responded, revenue = pending.pop(did)
            action, _ = cat.treatment(t)
            value = (revenue if action.id in conv_actions else action.value) if responded \
                else 0.0
            policy.learn(choice, t, prob, value - float(cat.cost[t]))

    conv_actions = {a.id for a in cfg.actions if a.conversion is not None}

    def decide(user: str, ts: float, trigger: str, placement: str | None, n: int) -> None:
        s = states[user]
        channels = cat.placements.get(placement, ()) if placement else outbound
        hour = local_hour(ts, tzs[user])
        recent = [(t, c) for t, c in s.contacts if ts - t < 7 * DAY]
        n_out = sum(1 for t, c in recent if c in outbound and ts - t < cat.total_cap[1])
        open_ch = set()
        for ch in channels:
            spec = cfg.channels[ch]
            window = parse_duration(spec.cap[1], "cap")
            if spec.opt_in and not s.consent.get(ch, False):
                continue
            if sum(1 for t, c in recent if c == ch and ts - t < window) >= spec.cap[0]:
                continue
            if spec.outbound and n_out >= cat.total_cap[0]:
                continue
            if spec.quiet_hours and _quiet(hour, *cat.quiet):
                continue
            open_ch.add(ch)
        eligible = np.array([t for t, (i, ch) in enumerate(cat.rows) if ch in open_ch
                             and trigger in cat.actions[i].triggers
                             and ts - s.last_action.get(i, -1e18) >= cat.actions[i].cooldown],
                            dtype=np.int64)
        if not len(eligible):
            return
        x = feats.vector(s, ts, tzs[user])
        choice = ReferenceChoice(x, feats.crosses(s, x, cat), CROSS_NAMES, eligible, cat,
                                 feats.names, user, ts)
        t, prob = policy.choose(choice)
        action, ch = cat.treatment(t)
        did = f"{world.name}-{world.seed}-{n}"
        d = {"decision_id": did, "customer_id": user, "ts": ts, "trigger": trigger,
             "placement": placement, "action_id": action.id, "channel": ch,
             "probability": prob, "policy": "learned"}
        on_decision(d, choice, t)
        s.contacts = [*s.contacts[-31:], (ts, ch)]
        s.last_action[cat.rows[t][0]] = ts
        pending[did] = [choice, t, prob, False, 0.0]
        heapq.heappush(due, (ts + cat.attribution, did))
        world.deliver(d)

    n = 0
    for rec in world.events():
        ts = _ts(rec["timestamp"])
        while timers and timers[0][0] <= ts:
            at, user, name = heapq.heappop(timers)
            if states[user].timers.get(name) == at:
                del states[user].timers[name]
                resolve(at)
                n += 1
                decide(user, at, name, None, n)
        resolve(ts)
        user = rec["userId"]
        s = states.get(user)
        if s is None:
            s = states[user] = feats.new(ts)
            tzs[user] = rec["context"]["timezone"]
        feats.fold(s, rec, ts)
        props = rec.get("properties") or {}
        did = props.get("decision_id")
        if did in pending:
            if rec.get("event") == "Promotion Clicked":
                pending[did][3] = True
            elif rec.get("event") in cat.convert:
                pending[did][4] += float(props.get("revenue", 0.0))
        for name, (on, delay) in cat.triggers.items():
            if rec.get("event") in on:
                s.timers[name] = ts + delay
                heapq.heappush(timers, (ts + delay, user, name))
        if rec["type"] == "page" and props.get("placement"):
            n += 1
            decide(user, ts, "request", props["placement"], n)
    resolve(math.inf)
    return cat
