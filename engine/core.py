"""The decision core: one customer's event in, decisions and training examples out.

`DecisionCore` holds what every customer shares (catalog, scorer, weight board, contact
policy, context table, budgets, uplift); the per-customer `CustomerState` is passed in, so
the same code runs under the in-process `Engine` and inside the bytewax flow's keyed steps.
Everything runs on event time: a replay makes the same decisions with the same ids.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from engine import metrics
from engine.catalog import Catalog
from engine.contact import ContactPolicy
from engine.decision import Decision, decision_id, seed_of
from engine.kernels import STATUS
from engine.learners import RepurchaseLearner, as_features
from engine.render import render
from engine.scorer import Scorer, WeightBoard
from engine.uplift import UpliftTracker
from features.context import ContextTable
from features.rules import rule_values
from features.schema import Event
from features.stage import Stage
from features.state import Contact, CustomerState, Pending, Slot
from features.update import apply_event
from features.vector import FEATURE_NAMES, vectorize

__all__ = ["CoreConfig", "DecisionCore", "Example", "StepResult"]

DAY = 86400.0
_RESPONSE_EVENTS = frozenset({"Promotion Clicked"})
_MAX_PENDING = 16


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Tunables of the decision core (event-time delays in seconds)."""

    seed: int = 7
    control_share: float = 0.05
    cart_delay: float = 3600.0
    browse_delay: float = 2 * 3600.0
    post_purchase_delay: float = 2 * DAY
    inactivity: float = 30 * DAY
    repurchase_horizon: float = 30 * DAY
    top_k: int = 3
    n_draws: int = 32
    python_kernels: bool = False


@dataclass(slots=True)
class Example:
    """A training example for one treatment's propensity learner."""

    treatment: int
    x: np.ndarray
    y: bool
    policy: str = "learned"
    revenue: float = 0.0


@dataclass(slots=True)
class StepResult:
    """What handling one event (or firing timers) produced."""

    decisions: list[Decision] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    repurchase: list[tuple[np.ndarray, bool]] = field(default_factory=list)


class DecisionCore:
    """Shared decisioning state and the per-customer step functions."""

    def __init__(self, catalog: Catalog, config: CoreConfig | None = None, *,
                 context: ContextTable | None = None) -> None:
        self.catalog = catalog
        self.config = config or CoreConfig()
        self.board = WeightBoard(catalog)
        self.scorer = Scorer(catalog, self.board, n_draws=self.config.n_draws,
                             top_k=self.config.top_k, python=self.config.python_kernels)
        self.policy = ContactPolicy(catalog)
        self.context = context or ContextTable()
        self.repurchase = RepurchaseLearner(horizon_days=self.config.repurchase_horizon / DAY)
        self.uplift = UpliftTracker()
        self.budget_left = np.array([a.budget for a in catalog.actions], dtype=np.int64)
        self.popularity = np.zeros(len(catalog.actions), dtype=np.float64)
        self._prior = np.array([a.value * a.lever for a in catalog.actions])
        self._seed = str(self.config.seed).encode()

    # ----------------------------------------------------------------- helpers

    @property
    def model_version(self) -> str:
        """Catalog version and weight-board publish count."""
        return f"{self.catalog.version}+{self.board.version}"

    def net_value(self, treatment: int, reward: bool) -> float:
        """A resolved decision's net value: the action's value if responded, minus its cost."""
        cat = self.catalog
        return float((cat.value[treatment] if reward else 0.0) - cat.cost[treatment])

    def is_control(self, key: str) -> bool:
        """Stable, seeded assignment of a customer key to the control group."""
        h = hashlib.blake2b(key.encode(), key=self._seed, digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64 < self.config.control_share

    # ----------------------------------------------------------------- steps

    def handle(self, key: str, state: CustomerState, event: Event) -> StepResult:
        """Fold one event into `state`: timers due first, features, outcomes, triggers."""
        res = StepResult()
        now = max(event.ts, state.row[Slot.DECAY_TS])
        self._fire_due(key, state, now, res)
        before = apply_event(state, event)  # raises on a poison event before attribution
        self._attribute(state, event, now, res)
        self._schedule(state, event, now, res)
        placement = _placement(event)
        if placement is not None:
            self._decide(key, state, now, "request", event.message_id, placement, res)
        elif state.stage != before and state.known:
            self._decide(key, state, now, "stage_change", event.message_id, None, res)
        self.policy.prune(state, now)
        return res

    def fire_timers(self, key: str, state: CustomerState, now: float) -> StepResult:
        """Fire `state`'s timers due at or before event time `now` (watermark sweeps)."""
        res = StepResult()
        self._fire_due(key, state, now, res)
        return res

    def request(self, key: str, state: CustomerState, now: float, placement: str | None,
                cause: str) -> StepResult:
        """An explicit decision request outside an event (the Engine API's `decide`)."""
        res = StepResult()
        self._fire_due(key, state, now, res)
        self._expire(state, now, res)
        self._decide(key, state, now, "request", cause, placement, res)
        return res

    # ----------------------------------------------------------------- outcomes

    def _resolve(self, state: CustomerState, p: Pending, reward: bool, revenue: float,
                 res: StepResult) -> None:
        res.examples.append(Example(p.treatment, p.x, reward, p.policy, revenue))
        self.uplift.record(p.policy, reward, revenue, self.net_value(p.treatment, reward))
        metrics.reward_rate_by(p.policy).set(self.uplift.stats[p.policy].rate)
        metrics.UPLIFT.set(self.uplift.value_uplift()[0])
        metrics.resolved_by(p.policy).inc()
        if reward:
            metrics.rewards_by(p.policy).inc()
            self.popularity[p.action] += 1.0
            state.ignores.pop(p.action, None)
        else:
            state.ignores[p.action] = state.ignores.get(p.action, 0) + 1

    def _expire(self, state: CustomerState, now: float, res: StepResult) -> None:
        """Resolve decisions unanswered after the response window; drop them after the
        attribution window (orders inside it still credit revenue to a clicked decision)."""
        respond, attribute = self.catalog.response_window, self.catalog.attribution_window
        keep = []
        for p in state.pending:
            if not p.resolved and now - p.ts > respond:
                p.resolved = True
                self._resolve(state, p, False, 0.0, res)
            if now - p.ts <= attribute:
                keep.append(p)
        while len(keep) > _MAX_PENDING:
            p = keep.pop(0)
            if not p.resolved:
                p.resolved = True
                self._resolve(state, p, False, 0.0, res)
        state.pending = keep

    def _attribute(self, state: CustomerState, event: Event, now: float,
                   res: StepResult) -> None:
        self._expire(state, now, res)
        if event.type != "track" or not state.pending:
            return
        did = event.properties.get("decision_id")
        target = next((p for p in state.pending if p.decision_id == did), None)
        if event.event == "Promotion Viewed" and target is not None:
            target.viewed = True
        elif event.event in _RESPONSE_EVENTS and target is not None and not target.resolved:
            target.responded = target.resolved = True
            self._resolve(state, target, True, 0.0, res)
        elif event.event == "Order Completed":
            # an order rewards the unresolved decision it names; otherwise it credits revenue
            # to the latest decision clicked inside the attribution window
            if target is None or (target.resolved and not target.responded):
                target = next((p for p in reversed(state.pending) if p.responded), None)
            if target is None:
                return
            revenue = event.properties.get("revenue", event.properties.get("total", 0.0))
            revenue = max(float(revenue), 0.0) if isinstance(revenue, int | float) else 0.0
            if not target.resolved:
                target.responded = target.resolved = True
                self._resolve(state, target, True, revenue, res)
            else:
                self.uplift.add_revenue(target.policy, revenue)
            metrics.revenue_by(target.policy).inc(revenue)

    # ----------------------------------------------------------------- timers

    def _schedule(self, state: CustomerState, event: Event, now: float,
                  res: StepResult) -> None:
        cfg, timers = self.config, state.timers
        timers["inactivity"] = now + cfg.inactivity
        if event.type != "track":
            return
        name = event.event
        if name in ("Product Added", "Checkout Started"):
            timers["cart_abandoned"] = now + cfg.cart_delay
            timers.pop("browse_abandoned", None)
        elif name == "Product Viewed" and state.row[Slot.CART_ITEMS] == 0:
            timers["browse_abandoned"] = now + cfg.browse_delay
        elif name == "Order Completed":
            timers.pop("cart_abandoned", None)
            timers.pop("browse_abandoned", None)
            timers["post_purchase"] = now + cfg.post_purchase_delay
            x = vectorize(state, now, self.context.lookup(state.region, now))
            if state.repurchase is not None and now - state.repurchase[0] <= cfg.repurchase_horizon:
                res.repurchase.append((state.repurchase[1], True))
            state.repurchase = (now, x)
            timers["repurchase_label"] = now + cfg.repurchase_horizon
            state.row[Slot.P_REPURCHASE] = self.repurchase.predict_proba_one(as_features(x))

    def _fire_due(self, key: str, state: CustomerState, now: float, res: StepResult) -> None:
        due = sorted((t, n) for n, t in state.timers.items() if t <= now)
        for t, name in due:
            del state.timers[name]
            self._expire(state, t, res)
            metrics.timers_by(name).inc()
            cart = state.row[Slot.CART_ITEMS]
            if name == "repurchase_label":
                if state.repurchase is not None:
                    res.repurchase.append((state.repurchase[1], False))
                    state.repurchase = None
                continue
            if name == "inactivity":
                state.stage, state.row[Slot.STAGE_SINCE] = Stage.RETARGETING, t
            elif (name == "cart_abandoned" and cart == 0) or (
                    name == "browse_abandoned" and cart > 0):
                continue
            if state.known:
                self._decide(key, state, t, name, f"timer@{t:.3f}", None, res)

    # ----------------------------------------------------------------- decide

    def _decide(self, key: str, state: CustomerState, now: float, trigger: str, cause: str,
                placement: str | None, res: StepResult) -> None:
        t0 = time.perf_counter_ns()
        cat = self.catalog
        signals = self.context.lookup(state.region, now)
        x = vectorize(state, now, signals)
        rule = rule_values(state, now, signals)
        channel_ok, channel_reasons = self.policy.channels(state, now, placement)
        action_ok = self.policy.actions(state, now)
        version = self.model_version
        did = decision_id(key, trigger, cause, placement)
        scored = self.scorer.score(x, rule, channel_ok, action_ok, self.budget_left,
                                   int(state.stage), trigger, seed_of(did))
        if scored.chosen < 0:
            return
        policy = "control" if self.is_control(key) else "learned"
        t, prob = scored.chosen, scored.probability
        if policy == "control":
            t, prob = self._generic(scored.status), 1.0
        action, channel = cat.treatment(t)
        a, ch = int(cat.t_action[t]), int(cat.t_channel[t])
        self.budget_left[a] -= 1
        state.contacts.append(Contact(now, a, ch))
        state.last_action_ts[a] = now
        state.pending.append(Pending(did, t, a, ch, now, policy, x))
        decision = Decision(
            decision_id=did,
            customer_id=state.customer_id,
            ts=now,
            trigger=trigger,
            stage=state.stage.label,
            placement=placement,
            channel=channel,
            action_id=action.id,
            kind=action.kind,
            message=render(action, channel, state),
            probability=round(prob, 6),
            policy=policy,
            model_version=version,
            ranking=self._ranking(scored.topk, scored.topk_score, x),
            reasons=self._reasons(t, x, scored.status, channel_reasons),
        )
        decision.latency_us = (time.perf_counter_ns() - t0) / 1000.0
        metrics.decisions_by(policy).inc()
        metrics.channel_by(channel).inc()
        metrics.DECISION_LATENCY.observe(decision.latency_us / 1e6)
        res.decisions.append(decision)

    def _generic(self, status: np.ndarray) -> int:
        """The control policy: the most popular eligible treatment (prior breaks ties)."""
        eligible = np.flatnonzero(status == 0)
        a = self.catalog.t_action[eligible]
        order = np.lexsort((-self._prior[a], -self.popularity[a]))
        return int(eligible[order[0]])

    def _ranking(self, topk: np.ndarray, score: np.ndarray, x: np.ndarray) -> list[dict]:
        out = []
        for t, priority in zip(topk, score, strict=True):
            if t < 0:
                break
            action, channel = self.catalog.treatment(int(t))
            lg = float(self.board.W[t] @ x + self.board.b[t])
            out.append({
                "action_id": action.id,
                "channel": channel,
                "score": round(float(priority), 6),
                "propensity": round(1.0 / (1.0 + math.exp(-lg)), 6),
                "value": action.value,
            })
        return out

    def _reasons(self, t: int, x: np.ndarray, status: np.ndarray,
                 channel_reasons: dict[str, str]) -> dict:
        contrib = self.board.W[t] * x
        contrib[0] = 0.0
        top = np.argsort(-np.abs(contrib))[:3]
        counts = np.bincount(status.astype(np.int64), minlength=len(STATUS))
        action, _ = self.catalog.treatment(t)
        return {
            "features": [{"name": FEATURE_NAMES[i], "contribution": round(float(contrib[i]), 4)}
                         for i in top if contrib[i] != 0.0],
            "rules": list(action.when_text),
            "excluded": {STATUS[i]: int(counts[i]) for i in range(1, len(STATUS)) if counts[i]},
            "channels_closed": channel_reasons,
        }


def _placement(event: Event) -> str | None:
    """Page and screen calls ask for a decision when they name a placement."""
    if event.type not in ("page", "screen"):
        return None
    p = event.properties.get("placement")
    return p if isinstance(p, str) and p else None

