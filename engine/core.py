"""The decision core: one customer's event in, decisions and training examples out.

`DecisionCore` holds what every customer shares (catalog, scorer, weight board, contact
policy, context table, budgets, uplift); the per-customer `CustomerState` is passed in, so
the same code runs under the in-process `Engine` and inside the bytewax flow's keyed steps.
Everything runs on event time: a replay makes the same decisions with the same ids.

A decision's life: delivered (contact counted, response history updated) → a response
named by its id (label 1) or the end of its response window on event time (label 0, an
ignore) → conversions credited inside its attribution window → at the window's end its
realized value is final (`Finished`: the value model, uplift and peer policies learn from
it). The `label` timer wakes the customer for both ends, whether or not she comes back.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from engine import metrics
from engine.catalog import Action, Catalog, Trigger
from engine.contact import ContactPolicy, in_quiet_hours
from engine.copurchase import CoPurchase
from engine.crosses import CrossSpace
from engine.decision import Decision, decision_id, seed_of
from engine.kernels import STATUS
from engine.model import ResponseModel, ValueModel
from engine.policy import Choice, Policy
from engine.products import Item, RecentItems
from engine.render import scope, top_categories
from engine.repurchase import PurchaseSummary, RepurchaseEstimate, RepurchaseModel
from engine.scorer import Scorer, WeightBoard
from engine.templates import TemplateRenderError
from engine.uplift import UpliftTracker
from features.context import ContextTable
from features.schema import Event
from features.state import Contact, CustomerState, Pending, Slot
from features.update import apply_event
from features.vector import local_hour

__all__ = ["CoreConfig", "DecisionCore", "Example", "Finished", "StepResult"]

log = logging.getLogger(__name__)

DAY = 86400.0
_MAX_PENDING = 16
_MAX_OPEN_CHOICES = 100_000
"""What a plugged-in policy was offered, kept per open decision until it finishes; beyond
this many (decisions of customers who expired or were erased never finish) the oldest go."""
NEW_ARRIVALS = 30 * DAY
"""Products added within this long before a decision count as new arrivals."""


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Tunables of the decision core (event-time delays in seconds)."""

    seed: int = 7
    control_share: float = 0.05
    inactivity: float = 30 * DAY
    repurchase_horizon: float = 30 * DAY
    top_k: int = 3
    n_draws: int = 32
    python_kernels: bool = False


@dataclass(slots=True)
class Example:
    """A labelled decision for the response model: did treatment `t` get a response?"""

    treatment: int
    x: np.ndarray
    c: np.ndarray
    y: bool
    policy: str = "learned"


@dataclass(slots=True)
class Finished:
    """A decision whose attribution window ended: its realized value is final."""

    decision_id: str
    treatment: int
    policy: str
    responded: bool
    value: float
    net: float
    revenue: float
    probability: float
    learn_value: bool


@dataclass(slots=True)
class StepResult:
    """What handling one event (or firing timers) produced."""

    decisions: list[Decision] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    finished: list[Finished] = field(default_factory=list)
    orders: list[tuple[str, ...]] = field(default_factory=list)
    """Item ids of each order (the co-purchase counts learn from them)."""
    purchases: list[tuple[str, PurchaseSummary]] = field(default_factory=list)
    """(customer key, purchase summary including the order): the repurchase model's data."""


class DecisionCore:
    """Shared decisioning state and the per-customer step functions."""

    def __init__(self, catalog: Catalog, config: CoreConfig | None = None, *,
                 context: ContextTable | None = None, policy: Policy | None = None) -> None:
        self.catalog = catalog
        self.config = config or CoreConfig()
        self.crosses = CrossSpace(catalog)
        fresh = self.new_state("", known=False)
        x0 = catalog.features.vectorize(fresh, 0.0)
        self.model = ResponseModel()
        self.model.bind(catalog, self.crosses, x_hint=float(x0 @ x0))
        self.values = ValueModel(prior_weight=catalog.learning.value_prior_weight)
        self.copurchase = CoPurchase()
        self.repurchase = RepurchaseModel(horizon_days=self.config.repurchase_horizon / DAY,
                                          seed=self.config.seed)
        self.board = WeightBoard(catalog, self.model, self.values)
        self.scorer = Scorer(catalog, self.board, n_draws=self.config.n_draws,
                             top_k=self.config.top_k, python=self.config.python_kernels)
        self.policy = ContactPolicy(catalog)
        self.peer = policy
        self._choices: dict[str, Choice] = {}
        self.context = context or ContextTable()
        self.uplift = UpliftTracker()
        self.budget_left = np.array([a.budget for a in catalog.actions], dtype=np.int64)
        self.popularity = np.zeros(len(catalog.actions), dtype=np.float64)
        self._prior = np.array([a.value * a.lever for a in catalog.actions])
        self._seed = str(self.config.seed).encode()
        self._convert_events = frozenset(
            ev for a in catalog.actions for ev in catalog.outcomes_of(a).convert)
        self._respond_events = frozenset(
            ev for a in catalog.actions for ev in catalog.outcomes_of(a).respond)

    # ----------------------------------------------------------------- helpers

    @property
    def model_version(self) -> str:
        """Catalog version and weight-board publish count."""
        return f"{self.catalog.version}+{self.board.version}"

    def purchases(self, state: CustomerState, now: float) -> RepurchaseEstimate:
        """Her repurchase forecast at event time `now` (BG/NBD + a learned correction,
        computed at read time from her purchase summary; `engine.repurchase`)."""
        return self.repurchase.predict(_summary(state), now)

    def new_state(self, customer_id: str, *, known: bool) -> CustomerState:
        """A fresh customer in the catalog's world, at the lifecycle's first stage."""
        state = self.catalog.layout.new_state(customer_id, known=known)
        state.stage = self.catalog.lifecycle.initial
        return state

    def is_control(self, key: str) -> bool:
        """Stable, seeded assignment of a customer key to the control group."""
        h = hashlib.blake2b(key.encode(), key=self._seed, digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64 < self.config.control_share

    def learn(self, example: Example) -> None:
        """One response label into the response model (the caller republishes)."""
        self.model.learn_one(example.treatment, example.x, example.c, example.y)
        metrics.learner_updates_by("propensity").inc()

    def settle(self, done: Finished) -> None:
        """A finished decision into the value model and the peer policy, if any."""
        if done.learn_value and done.responded:
            action, _ = self.catalog.treatment(done.treatment)
            self.values.learn_one(action.id, done.value)
            metrics.learner_updates_by("value").inc()
        choice = self._choices.pop(done.decision_id, None)
        if self.peer is not None and choice is not None:
            self.peer.learn(choice, done.treatment, done.probability, done.net)

    def publish(self) -> None:
        """Republish the models into the weight board the kernel reads."""
        self.board.publish(self.model, self.values)
        metrics.MODEL_VERSION.set(self.board.version)

    # ----------------------------------------------------------------- steps

    def handle(self, key: str, state: CustomerState, event: Event) -> StepResult:
        """Fold one event into `state`: timers due first, features, outcomes, triggers."""
        res = StepResult()
        now = max(event.ts, state.row[Slot.DECAY_TS])
        self._fire_due(key, state, now, res)
        cat = self.catalog
        orders = int(state.row[Slot.ORDERS])
        before = apply_event(state, event, cat.layout, cat.lifecycle)  # raises on poison
        if cat.products is not None and event.type == "track":
            unknown = sum(1 for i in _event_items(event) if cat.products.get(i) is None)
            if unknown:  # recorded all the same (the catalog may catch up); counted
                metrics.UNKNOWN_ITEMS.inc(unknown)
        if int(state.row[Slot.ORDERS]) > orders:
            res.orders.append(tuple(_order_items(event)))
            summary = _summary(state)
            if summary is not None:
                res.purchases.append((key, summary))
        self._attribute(state, event, now, res)
        self._schedule(state, event, now)
        placement = _placement(event)
        if placement is not None:
            self._decide(key, state, now, "request", event.message_id, placement, res)
        elif state.stage != before and state.known:
            self._decide(key, state, now, "stage_change", event.message_id, None, res)
        self.policy.prune(state, now)
        self._arm(state)
        return res

    def fire_timers(self, key: str, state: CustomerState, now: float) -> StepResult:
        """Fire `state`'s timers due at or before event time `now` (watermark sweeps)."""
        res = StepResult()
        self._fire_due(key, state, now, res)
        self._arm(state)
        return res

    def request(self, key: str, state: CustomerState, now: float, placement: str | None,
                cause: str) -> StepResult:
        """An explicit decision request outside an event (the Engine API's `decide`)."""
        res = StepResult()
        self._fire_due(key, state, now, res)
        self._expire(state, now, res)
        self._decide(key, state, now, "request", cause, placement, res)
        self._arm(state)
        return res

    # ----------------------------------------------------------------- outcomes

    def _respond(self, state: CustomerState, p: Pending, res: StepResult) -> None:
        late = p.resolved
        p.responded = p.resolved = True
        res.examples.append(Example(p.treatment, p.x, p.c, True, p.policy))
        if not late:
            metrics.resolved_by(p.policy).inc()
        metrics.rewards_by(p.policy).inc()
        lay, cat = self.catalog.layout, self.catalog
        action, _ = cat.treatment(p.treatment)
        r = state.row
        lay.decay_to(state, max(p.ts, r[Slot.DECAY_TS]))
        r[lay.channel_responded + p.channel] += 1.0
        r[lay.kind_responded + cat.world.kind_index(action.kind)] += 1.0
        if action.discount > 0:
            r[lay.discount_responded] += 1.0
        state.ignores.pop(cat.actions[p.action].id, None)

    def _ignore(self, state: CustomerState, p: Pending, res: StepResult) -> None:
        p.resolved = True
        res.examples.append(Example(p.treatment, p.x, p.c, False, p.policy))
        metrics.resolved_by(p.policy).inc()
        aid = self.catalog.actions[p.action].id
        n, ts = state.ignores.get(aid, (0.0, p.respond_by))
        decayed = n * math.exp(-max(p.respond_by - ts, 0.0) / (14 * DAY))
        state.ignores[aid] = (decayed + 1.0, max(p.respond_by, ts))

    def _finish(self, p: Pending, res: StepResult) -> None:
        cat = self.catalog
        action, _ = cat.treatment(p.treatment)
        converts = bool(cat.outcomes_of(action).convert)
        if not p.responded:
            value = 0.0
        elif converts:
            value = p.value
        else:
            value = float(cat.value[p.treatment])
        net = value - float(cat.cost[p.treatment])
        self.uplift.record(p.policy, p.responded, p.value if converts else 0.0, net)
        metrics.reward_rate_by(p.policy).set(self.uplift.stats[p.policy].rate)
        metrics.UPLIFT.set(self.uplift.value_uplift()[0])
        if p.responded:
            self.popularity[p.action] += 1.0
        res.finished.append(Finished(p.decision_id, p.treatment, p.policy, p.responded, value,
                                     net, p.value if converts else 0.0, p.probability, converts))

    def _expire(self, state: CustomerState, now: float, res: StepResult) -> None:
        """Label decisions whose response window ended; finish those whose attribution
        window ended (both on event time)."""
        keep = []
        for p in state.pending:
            if not p.resolved and now >= p.respond_by:
                self._ignore(state, p, res)
            if now >= p.attribute_by:
                self._finish(p, res)
            else:
                keep.append(p)
        while len(keep) > _MAX_PENDING:
            p = keep.pop(0)
            if not p.resolved:
                self._ignore(state, p, res)
            self._finish(p, res)
        state.pending = keep

    def _target(self, state: CustomerState, event: Event) -> Pending | None:
        """The pending decision an outcome names (by decision id, else by action id)."""
        props = event.properties
        did = props.get("decision_id")
        if isinstance(did, str):
            return next((p for p in state.pending if p.decision_id == did), None)
        aid = props.get("action_id", props.get("promotion_id"))
        if isinstance(aid, str):
            for p in reversed(state.pending):
                if self.catalog.actions[p.action].id == aid:
                    return p
        return None

    def _attribute(self, state: CustomerState, event: Event, now: float,
                   res: StepResult) -> None:
        self._expire(state, now, res)
        if event.type != "track" or not state.pending:
            return
        name = event.event
        cat = self.catalog
        target = self._target(state, event)
        if name == "Promotion Viewed" and target is not None:
            target.viewed = True
        if name in self._respond_events and target is not None and not target.responded \
                and name in cat.outcomes_of(cat.actions[target.action]).respond:
            # a response after its window (already labelled ignored) is learned as a positive
            # too: the fake-negative correction of delayed feedback (Ktena et al. 2019)
            self._respond(state, target, res)
        if name in self._convert_events:
            if target is None or not target.responded:
                target = next((p for p in reversed(state.pending) if p.responded
                               and name in cat.outcomes_of(cat.actions[p.action]).convert),
                              None)
            if target is None:
                return
            spec = cat.outcomes_of(cat.actions[target.action]).convert.get(name)
            if spec is None:
                return
            amount = spec if isinstance(spec, float) else event.properties.get(spec, 0.0)
            amount = max(float(amount), 0.0) if isinstance(amount, int | float) \
                and not isinstance(amount, bool) and math.isfinite(amount) else 0.0
            target.value += amount
            target.converted = True
            metrics.revenue_by(target.policy).inc(amount)

    # ----------------------------------------------------------------- timers

    def _schedule(self, state: CustomerState, event: Event, now: float) -> None:
        timers = state.timers
        timers["inactivity"] = now + self.config.inactivity
        if event.type != "track":
            return
        for trig in self.catalog.triggers.values():
            if event.event in trig.cancel_on:
                timers.pop(trig.name, None)
            if event.event in trig.on:
                timers[trig.name] = now + trig.delay

    def _arm(self, state: CustomerState) -> None:
        """The `label` timer: when the next pending decision needs event time to pass."""
        if state.pending:
            state.timers["label"] = min(p.due for p in state.pending)
        else:
            state.timers.pop("label", None)

    def inputs(self, state: CustomerState, now: float
               ) -> tuple[dict[str, float], RepurchaseEstimate, np.ndarray, np.ndarray]:
        """What a decision reads of a customer at event time `now`: her region's signals,
        her repurchase forecast, the model vector and the rule values."""
        signals = self.context.lookup(state.region, now)
        est = self.purchases(state, now)
        x = self.catalog.features.vectorize(state, now, signals, p_repurchase=est.p_repurchase)
        return signals, est, x, self._rules(state, now, signals, est)

    def _rules(self, state: CustomerState, now: float, signals: dict[str, float],
               est: RepurchaseEstimate) -> np.ndarray:
        return self.catalog.rules.values(state, now, signals, p_repurchase=est.p_repurchase,
                                         expected_orders=est.expected_orders)

    def _holds(self, trig: Trigger, state: CustomerState, now: float) -> bool:
        if not trig.when:
            return True
        signals = self.context.lookup(state.region, now)
        rule = self._rules(state, now, signals, self.purchases(state, now))
        return all(_check(float(rule[p.feature]), p.op, p.value) for p in trig.when)

    def _fire_due(self, key: str, state: CustomerState, now: float, res: StepResult) -> None:
        due = sorted((t, n) for n, t in state.timers.items() if t <= now)
        for t, name in due:
            if state.timers.get(name) != t:
                continue
            del state.timers[name]
            self._expire(state, t, res)
            if name == "label":
                continue
            metrics.timers_by(name).inc()
            if name == "inactivity":
                stage = self.catalog.lifecycle.on_inactivity
                if stage is not None:
                    state.stage, state.row[Slot.STAGE_SINCE] = stage, t
            else:
                trig = self.catalog.triggers.get(name)
                if trig is None or not self._holds(trig, state, t):
                    continue
                later = _next_window(trig, state, t)
                if later is not None:
                    state.timers[name] = later
                    continue
            if state.known:
                self._decide(key, state, t, name, f"timer@{t:.3f}", None, res)
        self._expire(state, now, res)

    # ----------------------------------------------------------------- decide

    def _decide(self, key: str, state: CustomerState, now: float, trigger: str, cause: str,
                placement: str | None, res: StepResult) -> None:
        t0 = time.perf_counter_ns()
        cat = self.catalog
        signals, _, x, rule = self.inputs(state, now)
        C = self.crosses.matrix(state, now)
        channel_ok, channel_reasons = self.policy.channels(state, now, placement)
        action_ok, treatment_ok = self.policy.actions(state, now)
        items = self._items(state, now, action_ok)
        did = decision_id(key, trigger, cause, placement)
        scored = self.scorer.score(x, rule, C, channel_ok, action_ok, treatment_ok,
                                   self.budget_left, int(state.stage), trigger, seed_of(did))
        if scored.chosen < 0:
            metrics.no_decision_by(_no_decision_reason(scored.status, channel_ok)).inc()
            return
        policy = "control" if self.is_control(key) else "learned"
        t, prob = scored.chosen, scored.probability
        if policy == "control":
            t, prob = self._generic(scored.status), 1.0
        elif self.peer is not None:
            choice = Choice(did, x, C, self.crosses.names, np.flatnonzero(scored.status == 0),
                            cat)
            t, prob = self.peer.choose(choice)
            self._choices[did] = choice
            while len(self._choices) > _MAX_OPEN_CHOICES:
                del self._choices[next(iter(self._choices))]
        action, channel = cat.treatment(t)
        a, ch = int(cat.t_action[t]), int(cat.t_channel[t])
        chosen_items = items.get(a) or self._select(action, state, now)
        sc = scope(cat, action, channel, state, chosen_items, signals)
        try:
            rendered = action.messages[channel].render(sc)
            link = action.deep_link.render(sc).strip() if action.deep_link else None
        except TemplateRenderError:
            log.warning("template of %s@%s failed to render; no decision", action.id, channel,
                        exc_info=True)
            metrics.no_decision_by("template_error").inc()
            self._choices.pop(did, None)
            return
        self.budget_left[a] -= 1
        self._delivered(state, now, t)
        state.pending.append(Pending(
            did, cat.treatment_id(t), t, a, ch, now, policy, x, C[t].copy(), prob,
            respond_by=now + float(cat.respond_window[t]),
            attribute_by=now + max(cat.attribution_of(action), float(cat.respond_window[t]))))
        p_resp = 1.0 / (1.0 + math.exp(-(float(self.board.W[t] @ x + self.board.b[t])
                                         + float(C[t] @ self.board.cross_w))))
        decision = Decision(
            decision_id=did,
            customer_id=state.customer_id,
            ts=now,
            trigger=trigger,
            stage=cat.lifecycle.label(state.stage),
            placement=placement,
            channel=channel,
            action_id=action.id,
            kind=action.kind,
            message=rendered.body,
            subject=rendered.subject,
            items=[it.to_payload() for it in chosen_items],
            deep_link=link,
            probability=round(prob, 6),
            policy=policy,
            model_version=self.model_version,
            expected_value=round(p_resp * float(self.board.value[t]) - float(cat.cost[t]), 6),
            coupon=action.coupon,
            ranking=self._ranking(scored.topk, scored.topk_score, x, C),
            reasons=self._reasons(t, x, scored.status, channel_reasons),
        )
        decision.latency_us = (time.perf_counter_ns() - t0) / 1000.0
        metrics.decisions_by(policy).inc()
        metrics.channel_by(channel).inc()
        metrics.DECISION_LATENCY.observe(decision.latency_us / 1e6)
        res.decisions.append(decision)

    def _select(self, action: Action, state: CustomerState, now: float) -> list[Item]:
        """The items a decision of `action` carries (none without an `items:` spec)."""
        cat = self.catalog
        if action.items is None or cat.products is None:
            return []
        cats = ([action.category] if action.category is not None
                else [cat.world.category_id(i) or "" for i in top_categories(cat, state, 2)])
        sel = cat.products.select(action.items.source,
                                  RecentItems(state.viewed, state.added, state.bought),
                                  action.items.limit, categories=cats,
                                  since_ts=now - NEW_ARRIVALS, learned=self.copurchase)
        return list(sel.items)  # unknown ids were counted when their event came in

    def _items(self, state: CustomerState, now: float, action_ok: np.ndarray
               ) -> dict[int, list[Item]]:
        """Items of the actions that need some (`items.min`); an action short of its
        minimum is not eligible this time."""
        out: dict[int, list[Item]] = {}
        for a, action in enumerate(self.catalog.actions):
            if action.items is None or action.items.min == 0 or not action_ok[a]:
                continue
            out[a] = self._select(action, state, now)
            if len(out[a]) < action.items.min:
                action_ok[a] = 0
        return out

    def _delivered(self, state: CustomerState, now: float, t: int) -> None:
        """Count a delivery: caps and cooldowns, and the response history crosses read."""
        cat, lay = self.catalog, self.catalog.layout
        action, _ = cat.treatment(t)
        ch = int(cat.t_channel[t])
        tid = cat.treatment_id(t)
        state.contacts.append(Contact(now, action.id, cat.world.channels[ch]))
        state.last_sent[tid] = now
        r = state.row
        lay.decay_to(state, now)
        r[lay.channel_sent + ch] += 1.0
        r[lay.channel_recent + ch] += 1.0
        r[lay.kind_sent + cat.world.kind_index(action.kind)] += 1.0
        if action.discount > 0:
            r[lay.discount_sent] += 1.0

    def _generic(self, status: np.ndarray) -> int:
        """The control policy: the most popular eligible treatment (prior breaks ties)."""
        eligible = np.flatnonzero(status == 0)
        a = self.catalog.t_action[eligible]
        order = np.lexsort((-self._prior[a], -self.popularity[a]))
        return int(eligible[order[0]])

    def _ranking(self, topk: np.ndarray, score: np.ndarray, x: np.ndarray,
                 C: np.ndarray) -> list[dict]:
        out = []
        w = self.board
        for t, priority in zip(topk, score, strict=True):
            if t < 0:
                break
            action, channel = self.catalog.treatment(int(t))
            lg = float(w.W[t] @ x + w.b[t] + C[t] @ w.cross_w)
            out.append({
                "action_id": action.id,
                "channel": channel,
                "score": round(float(priority), 6),
                "propensity": round(1.0 / (1.0 + math.exp(-lg)), 6),
                "value": round(float(w.value[t]), 4),
            })
        return out

    def _reasons(self, t: int, x: np.ndarray, status: np.ndarray,
                 channel_reasons: dict[str, str]) -> dict:
        names = self.catalog.features.names
        contrib = self.board.W[t] * x
        contrib[0] = 0.0
        top = np.argsort(-np.abs(contrib))[:3]
        counts = np.bincount(status.astype(np.int64), minlength=len(STATUS))
        action, _ = self.catalog.treatment(t)
        return {
            "features": [{"name": names[i], "contribution": round(float(contrib[i]), 4)}
                         for i in top if contrib[i] != 0.0],
            "rules": list(action.when_text),
            "excluded": {STATUS[i]: int(counts[i]) for i in range(1, len(STATUS)) if counts[i]},
            "channels_closed": channel_reasons,
        }


def _summary(state: CustomerState) -> PurchaseSummary | None:
    r = state.row
    orders = int(r[Slot.ORDERS])
    if orders < 1:
        return None
    first = r[Slot.FIRST_ORDER_TS] or r[Slot.FIRST_SEEN] or r[Slot.LAST_ORDER_TS]
    return PurchaseSummary(orders, float(first), float(max(r[Slot.LAST_ORDER_TS], first)),
                           float(r[Slot.REVENUE]))


def _order_items(event: Event) -> list[str]:
    products = event.properties.get("products")
    if not isinstance(products, list):
        return []
    ids = (p.get("product_id", p.get("sku", p.get("id"))) for p in products
           if isinstance(p, dict))
    return [str(i)[:64] for i in ids if isinstance(i, str | int) and not isinstance(i, bool)]


def _event_items(event: Event) -> list[str]:
    """Item ids an event names (its own product, or an order's products)."""
    one = event.properties.get("product_id")
    if isinstance(one, str | int) and not isinstance(one, bool):
        return [str(one)[:64]]
    return _order_items(event)


def _check(v: float, op: int, c: float) -> bool:
    return (v < c, v <= c, v > c, v >= c, v == c, v != c)[op]


def _next_window(trig: Trigger, state: CustomerState, t: float) -> float | None:
    """None when `t` is inside the trigger's send window (local time); else the next start."""
    if trig.send_window is None:
        return None
    start, end = trig.send_window
    hour = local_hour(state.row[Slot.TZ_OFFSET_H], t)
    if in_quiet_hours(hour, start, end):  # [start, end) wrapping past midnight
        return None
    return t + ((start - hour) % 24.0) * 3600.0


def _no_decision_reason(status: np.ndarray, channel_ok: np.ndarray) -> str:
    if not channel_ok.any():
        return "no_open_channel"
    counts = np.bincount(status.astype(np.int64), minlength=len(STATUS))
    counts[0] = 0
    return STATUS[int(np.argmax(counts))] if counts.any() else "no_action"


def _placement(event: Event) -> str | None:
    """Page and screen calls ask for a decision when they name a placement."""
    if event.type not in ("page", "screen"):
        return None
    p = event.properties.get("placement")
    return p if isinstance(p, str) and p else None
