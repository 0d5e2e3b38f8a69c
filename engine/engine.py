"""The in-process `Engine`: the whole closed loop callable from Python, no bytewax or Kafka.

    eng = Engine(load_catalog("catalog.yaml"), seed=7)
    decisions = eng.process(event)                 # one Segment event (dict, bytes or str)
    d = eng.decide("u-42", placement="home_hero")  # explicit request
    eng.process({"type": "track", "event": "Promotion Clicked", "userId": "u-42", ...})
    eng.features("u-42")                           # named feature values + stage
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from engine import metrics
from engine.catalog import Catalog, load_catalog
from engine.core import CoreConfig, DecisionCore, StepResult
from engine.decision import Decision
from engine.learning import Forgotten, Learning, Purchase
from engine.policy import Policy
from engine.routing import DeviceProfile, Forward, device_event, known_event
from features.decode import EARLIEST, decode
from features.guard import KeyGuard
from features.identity import customer_key, device_id, known_id, routing_id
from features.schema import Event
from features.state import CustomerState, Slot
from features.watermark import Watermark

__all__ = ["DEFAULT_SECRET", "Engine"]

DEFAULT_SECRET = b"journey-development-secret"
"""Key for customer-id hashes; set JOURNEY_SECRET in production."""


class Engine:
    """Ingest events, make decisions, learn from outcomes: all in one process."""

    def __init__(self, catalog: Catalog | None = None, *, seed: int = 7,
                 config: CoreConfig | None = None, secret: bytes = DEFAULT_SECRET,
                 policy: Policy | None = None, earliest: float = EARLIEST) -> None:
        cat = catalog or load_catalog()
        self.core = DecisionCore(cat, config or CoreConfig(seed=seed), policy=policy)
        self.secret = secret
        self.learning = Learning.of(self.core)
        self.earliest = earliest
        """Event-time floor (epoch seconds): older events raise `bad_timestamp`."""
        self.states: dict[str, CustomerState] = {}
        self.devices: dict[str, DeviceProfile] = {}
        self.guards: dict[str, KeyGuard] = {}
        """Per key (device or customer): recent message ids, erasure tombstone."""
        self.dedupe_window = 86_400.0
        self._timers: list[tuple[float, str]] = []
        self.watermark = 0.0
        """Event time every customer's timers have fired up to."""
        self.clock = Watermark()
        """What `process` moves the watermark by: the time `clock.quorum` recent events
        reached (`features.watermark`), so one event dated far ahead fires nothing early;
        `advance_to` moves it explicitly."""

    # ----------------------------------------------------------------- identity

    def _key(self, raw_id: str) -> str:
        return customer_key(raw_id, self.secret)

    def _state(self, key: str, customer_id: str, known: bool) -> CustomerState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = self.core.new_state(customer_id, known=known)
        return state

    def _guard(self, key: str) -> KeyGuard:
        guard = self.guards.get(key)
        if guard is None:
            guard = self.guards[key] = KeyGuard()
        return guard

    def _route(self, ev: Event) -> tuple[str, CustomerState, StepResult] | None:
        """Run the two identity tiers (see `engine.routing`) over dicts."""
        rid, known = routing_id(ev)
        key = self._key(rid)
        if known:
            fwd = Forward(key, rid[2:], ev)
        else:
            profile = self.devices.setdefault(key, DeviceProfile())
            out = device_event(self.core, self.secret, key, profile, self._guard(key), ev,
                               self.dedupe_window)
            if out.erased:
                self.learning.apply(self.core, [Forgotten(key)])
            if out.forward is None:
                if out.result is None:
                    return None
                assert profile.state is not None
                return key, profile.state, out.result
            fwd = out.forward
        state, out = known_event(self.core, fwd.user_key, self.states.get(fwd.user_key),
                                 self._guard(fwd.user_key), fwd, self.dedupe_window)
        if out.erased:
            self.learning.apply(self.core, [Forgotten(fwd.user_key)])
        if state is None:
            self.states.pop(fwd.user_key, None)
            return None
        self.states[fwd.user_key] = state
        if out.result is None:
            return None
        return fwd.user_key, state, out.result

    # ----------------------------------------------------------------- API

    def process(self, event: Mapping[str, Any] | bytes | str | Event) -> list[Decision]:
        """Ingest one event; return the decisions it (and timers it passed) triggered.

        Raises `DecodeError` for malformed input (the flow turns that into a dead letter);
        its `messageId` is not remembered, so a corrected resend under it is processed.
        Other customers' timers fire as the watermark passes them (see `clock`).
        """
        ev = _as_event(event, self.earliest)
        metrics.events_by(ev.label).inc()
        decisions = self.advance_to(self.clock.observe(ev.ts))
        if ev.type == "context":
            assert ev.region is not None
            self.core.context.update(ev.region, ev.ts, ev.signals)
            return decisions
        if ev.type == "group":
            return decisions
        routed = self._route(ev)
        if routed is None:
            return decisions
        key, state, res = routed
        return decisions + self._finish(key, state, res)

    def decide(self, customer_id: str, placement: str | None = None,
               context: Mapping[str, float] | None = None,
               ts: float | None = None) -> Decision | None:
        """Explicit decision request for a known customer (optionally with context signals)."""
        key = self._key(known_id(customer_id))
        state = self._state(key, customer_id, True)
        now = ts if ts is not None else max(state.row[Slot.LAST_SEEN], self.watermark)
        if context and state.region:
            self.core.context.update(state.region, now, dict(context))
        cause = f"request@{now:.3f}:{len(state.contacts)}"
        res = self.core.request(key, state, now, placement, cause)
        out = self._finish(key, state, res)
        return out[-1] if out and out[-1].trigger == "request" else None

    def advance_to(self, ts: float) -> list[Decision]:
        """Move the event-time watermark to `ts` (trusted: no quorum); fire every customer's
        timers due by then."""
        self.watermark = self.clock.raise_to(ts)
        out: list[Decision] = []
        while self._timers and self._timers[0][0] <= self.watermark:
            due, key = heapq.heappop(self._timers)
            state = self.states.get(key)
            if state is None:
                device = self.devices.get(key)
                state = device.state if device is not None else None
            if state is None or not any(t <= due for t in state.timers.values()):
                continue
            out += self._finish(key, state, self.core.fire_timers(key, state, due))
        return out

    def features(self, customer_id: str) -> dict[str, Any]:
        """Named feature values (model vector and rule values) and the stage, for inspection."""
        key = self._key(known_id(customer_id))
        state = self.states.get(key)
        if state is None:
            profile = self.devices.get(self._key(device_id(customer_id)))
            state = profile.state if profile is not None else None
        if state is None:
            return {}
        now = max(state.row[Slot.LAST_SEEN], self.watermark)
        cat = self.core.catalog
        _, est, x, r = self.core.inputs(state, now)
        out: dict[str, Any] = {"stage": cat.lifecycle.label(state.stage),
                               "p_repurchase": est.p_repurchase,
                               "expected_orders": est.expected_orders,
                               "p_alive": est.p_alive,
                               "expected_value": est.expected_value,
                               "horizon_days": est.horizon_days}
        out.update({n: float(x[i]) for i, n in enumerate(cat.features.names)})
        out.update({f"rule.{n}": float(r[i]) for i, n in enumerate(cat.rules.names)})
        return out

    def forget(self, customer_id: str) -> None:
        """Erase a customer (user id, or a device's anonymous id) and skip later events for
        them: the same `User Deleted` event the flow handles."""
        for id_field in ("userId", "anonymousId"):
            self.process({"type": "track", "event": "User Deleted", id_field: customer_id,
                          "timestamp": _iso(max(self.watermark, EARLIEST))})

    def state_bytes(self) -> int:
        """Pickled size of all customer state (what a recovery snapshot would hold)."""
        devices = [d.state for d in self.devices.values() if d.state is not None]
        size = sum(len(pickle.dumps(s, protocol=5)) for s in [*self.states.values(), *devices])
        metrics.CUSTOMERS.set(len(self.states) + len(devices))
        metrics.STATE_BYTES.set(size)
        return size

    def dedupe_ids(self) -> int:
        """Message ids the per-key guards remember (at most `features.guard.RING` per
        customer or device); also sets `journey_dedupe_ids{store="keys"}`."""
        n = sum(g.size for g in self.guards.values())
        metrics.dedupe_ids_by("keys").set(n)
        return n

    # ----------------------------------------------------------------- internals

    def _finish(self, key: str, state: CustomerState, res: StepResult) -> list[Decision]:
        self.learning.apply(self.core, [*res.examples, *res.finished, *res.orders,
                                        *(Purchase(p) for p in res.purchases)])
        for due in state.timers.values():
            heapq.heappush(self._timers, (due, key))
        return res.decisions


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _as_event(event: Mapping[str, Any] | bytes | str | Event, earliest: float) -> Event:
    if isinstance(event, Event):
        return event
    if isinstance(event, bytes | str):
        return decode(event, earliest=earliest)
    return decode(orjson.dumps(dict(event)), earliest=earliest)
