"""bytewax `StatefulLogic` glue around the engine's identity tiers.

Each logic wraps one key's state and calls `engine.routing`; emitted items are
`(kind, payload)` pairs: `decision`, `example` (a response label), `finished` (a decision's
final value), `forward` or `dead` (an event the feature or decision code rejected: the state
is left as it was and the event is dead-lettered).

Both identity tiers also take a `DeadLetter` of their key (a record rejected before them,
whose raw bytes name the customer or device): it meets the key's guard, leaves redacted if
the key was erased and unchanged otherwise, and creates no state.
"""

from __future__ import annotations

import copy
import logging
import math
import pickle
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.operators import StatefulLogic

from engine import metrics
from engine.core import StepResult
from engine.learning import Forgotten, Item, Learning, Purchase
from engine.recovery import restore_customer, restore_learning
from engine.routing import DeviceProfile, Forward, Outcome, device_event, known_event
from features.deadletter import DeadLetter
from features.errors import DecodeError
from features.guard import KeyGuard
from features.identity import customer_key, payload_ids
from features.schema import Decoded
from features.state import CustomerState
from flows.runtime import Runtime

__all__ = ["ContextLogic", "DeviceLogic", "KnownLogic", "LearnLogic", "Out"]

log = logging.getLogger(__name__)

Out = tuple[str, Any]
LATENESS = 60.0
"""Event-time seconds a sweep stays behind the newest event seen (partitions may lag)."""
_SAMPLE_EVERY = 997


class _StateGauge:
    """Customers held by this process, bytes estimated from sampled pickled sizes, and the
    message ids their guards remember."""

    def __init__(self) -> None:
        self.customers = 0
        self.mean_bytes = 0.0
        self.ids = 0
        self._n = 0
        self._lock = threading.Lock()

    def ids_changed(self, delta: int) -> None:
        if delta:
            with self._lock:
                self.ids += delta
                metrics.dedupe_ids_by("keys").set(self.ids)

    def added(self) -> None:
        with self._lock:
            self.customers += 1
            metrics.CUSTOMERS.set(self.customers)

    def removed(self) -> None:
        with self._lock:
            self.customers -= 1
            metrics.CUSTOMERS.set(self.customers)

    def sample(self, state: object) -> None:
        self._n += 1
        if self._n % _SAMPLE_EVERY == 1:
            size = len(pickle.dumps(state, protocol=5))
            self.mean_bytes = size if self.mean_bytes == 0 else 0.9 * self.mean_bytes + 0.1 * size
            metrics.STATE_BYTES.set(self.customers * self.mean_bytes)


GAUGE = _StateGauge()


def _failed(rt: Runtime, item: Decoded, e: Exception) -> list[Out]:
    """A poison event: the state is kept, the event goes to the dead-letter output, and its
    `messageId` is not remembered (a corrected resend under it is processed)."""
    reason = e.reason if isinstance(e, DecodeError) else "processing_error"
    log.info("dead-lettered event %s from %s: %s", item.event.message_id, item.origin,
                type(e).__name__)
    rt.ack(item.origin)
    return [("dead", DeadLetter(reason, str(e), item.payload, "events", item.origin,
                                type(e).__name__))]


def _outputs(rt: Runtime, res: StepResult | None) -> list[Out]:
    if res is None:
        return []
    rt.deliver(res.decisions)
    out: list[Out] = [("decision", d) for d in res.decisions]
    out += [("example", e) for e in res.examples]
    out += [("finished", f) for f in res.finished]
    out += [("order", o) for o in res.orders]
    out += [("purchase", Purchase(p)) for p in res.purchases]
    return out


class _KeyedLogic:
    """What both identity tiers share: skip/erase accounting, timers and expiry.

    A forgotten key keeps only a tombstone (its guard) and skips later events; a key idle for
    `--state-ttl` of event time (a tombstone: `--tombstone-ttl`) is dropped at its next check.
    """

    rt: Runtime
    key: str
    guard: KeyGuard

    def _customer(self) -> CustomerState | None:
        raise NotImplementedError

    def _settled(self, item: Decoded, outcome: Outcome) -> list[Out]:
        """Emit what the step produced; acknowledge the event unless it moves on."""
        erased: list[Out] = [("forgotten", Forgotten(self.key))] if outcome.erased else []
        if outcome.erased:
            for key in (self.key, *outcome.devices):
                self.rt.erased(key)
        if outcome.forward is not None:  # acknowledged where it lands
            return [*erased, ("forward", (outcome.forward, item))]
        out = erased + _outputs(self.rt, outcome.result)
        self.rt.ack(item.origin)
        return out

    def _holds_nothing(self) -> bool:
        """Whether the key has neither state nor guard history (a logic built for a dead
        letter alone): dropping it loses nothing."""
        return (self._customer() is None and not self.guard.erased
                and self.guard.last_seen == -math.inf)

    def _dead_letter(self, dead: DeadLetter) -> tuple[list[Out], bool]:
        """A record of this key rejected before the keyed steps: redacted if the key was
        erased, else unchanged; acknowledged here. A key holding nothing is not kept for it."""
        if self.guard.erased:
            metrics.DEAD_LETTERS_REDACTED.inc()
            dead = dead.redact()
        self.rt.ack(dead.origin)
        if self._holds_nothing():
            GAUGE.removed()
            return [("dead", dead)], StatefulLogic.DISCARD
        return [("dead", dead)], StatefulLogic.RETAIN

    def _expires_at(self) -> float:
        s = self.rt.settings
        return self.guard.expires_at(s.tombstone_ttl if self.guard.erased else s.state_ttl)

    def on_notify(self) -> tuple[Iterable[Out], bool]:
        now = self.rt.watermark - LATENESS
        if now > self._expires_at():
            metrics.EXPIRED.inc()
            GAUGE.removed()
            GAUGE.ids_changed(-self.guard.size)
            return [], StatefulLogic.DISCARD
        state = self._customer()
        if state is None or self.guard.erased:
            return [], StatefulLogic.RETAIN
        return _outputs(self.rt, self.rt.core.fire_timers(self.key, state, now)), \
            StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Out], bool]:
        """The input ended: fire the timers due up to `--until` (default: the watermark,
        the last event time `--watermark-quorum` events reached), so a replay's last
        journeys complete and one event dated far ahead fires nothing."""
        until = self.rt.settings.until_ts(self.rt.watermark)
        state = self._customer()
        if until is None or state is None or self.guard.erased:
            return [], StatefulLogic.RETAIN
        return _outputs(self.rt, self.rt.core.fire_timers(self.key, state, until)), \
            StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """When to wake: the wall-clock estimate of the next due timer or expiry (event time
        advancing with the wall clock), between `--timer-sweep` and `--wake-limit` seconds
        away. Keys sleep through a long timer instead of polling, so thousands of pending
        response windows cost nothing; a replay (event time faster than the wall clock)
        fires timers at most `--wake-limit` late, and a customer's own next event fires
        them first anyway."""
        due = self._expires_at()
        state = self._customer()
        if state is not None and state.timers and not self.guard.erased:
            due = min(due, min(state.timers.values()))
        if due == math.inf:
            return None
        s = self.rt.settings
        ahead = due - (self.rt.watermark - LATENESS)
        return datetime.now(UTC) + timedelta(seconds=max(s.timer_sweep,
                                                         min(ahead, s.wake_limit)))


class DeviceLogic(_KeyedLogic, StatefulLogic[tuple[str, Decoded | DeadLetter], Out,
                                             tuple[str, DeviceProfile, KeyGuard]]):
    """Device tier: anonymous decisions, or forward to the known customer.

    Items are `(device key, decoded)` or `(device key, dead letter)`; snapshots are
    `(key, profile, guard)`. A dead letter of a linked device goes on to its customer.
    """

    def __init__(self, rt: Runtime,
                 resume: tuple[str, DeviceProfile, KeyGuard] | None) -> None:
        self.rt = rt
        self.key, self.profile, self.guard = (
            resume if resume is not None else ("", DeviceProfile(), KeyGuard()))
        if resume is not None:
            rt.restore_watermark(restore_customer(rt.core, self.profile.state))
        GAUGE.added()
        GAUGE.ids_changed(self.guard.size)

    def _customer(self) -> CustomerState | None:
        return self.profile.state

    def _holds_nothing(self) -> bool:
        return super()._holds_nothing() and self.profile.linked_key is None

    def _dead_letter(self, dead: DeadLetter) -> tuple[list[Out], bool]:
        """Redacted here if this device was erased; else on to the customer the record names
        (a `userId` beside this `anonymousId`), or the one this device is linked to, for her
        step to check her erasure."""
        if not self.guard.erased:
            named = next((i for i, known in payload_ids(dead.payload) if known), None)
            target = (customer_key(named, self.rt.secret) if named is not None
                      else self.profile.linked_key)
            if target is not None:
                if self._holds_nothing():  # a key made only for this dead letter
                    GAUGE.removed()
                    return [("forward", (target, dead))], StatefulLogic.DISCARD
                return [("forward", (target, dead))], StatefulLogic.RETAIN
        return super()._dead_letter(dead)

    def on_item(self, value: tuple[str, Decoded | DeadLetter]) -> tuple[Iterable[Out], bool]:
        self.key, item = value
        if isinstance(item, DeadLetter):
            return self._dead_letter(item)
        held = self.guard.size
        try:
            outcome = device_event(self.rt.core, self.rt.secret, self.key, self.profile,
                                   self.guard, item.event, self.rt.settings.dedupe_window)
        except Exception as e:  # noqa: BLE001 - a poison event must not stop the worker
            return _failed(self.rt, item, e), StatefulLogic.RETAIN
        finally:
            GAUGE.ids_changed(self.guard.size - held)
        GAUGE.sample(self.profile)
        return self._settled(item, outcome), StatefulLogic.RETAIN

    def snapshot(self) -> tuple[str, DeviceProfile, KeyGuard]:
        return self.key, copy.deepcopy(self.profile), copy.deepcopy(self.guard)


class KnownLogic(_KeyedLogic, StatefulLogic[tuple[Forward, Decoded] | tuple[str, DeadLetter],
                                            Out, tuple[str, CustomerState | None, KeyGuard]]):
    """Known-customer tier: features, stage, triggers and decisions.

    Items are `(forward, decoded)` or `(customer key, dead letter)`; snapshots are
    `(key, state, guard)`.
    """

    def __init__(self, rt: Runtime,
                 resume: tuple[str, CustomerState | None, KeyGuard] | None) -> None:
        self.rt = rt
        self.key, self.state, self.guard = (
            resume if resume is not None else ("", None, KeyGuard()))
        if resume is not None:
            rt.restore_watermark(restore_customer(rt.core, self.state))
        GAUGE.added()
        GAUGE.ids_changed(self.guard.size)

    def _customer(self) -> CustomerState | None:
        return self.state

    def on_item(self, value: tuple[Forward, Decoded] | tuple[str, DeadLetter]
                ) -> tuple[Iterable[Out], bool]:
        head, item = value
        if isinstance(item, DeadLetter):
            return self._dead_letter(item)
        assert isinstance(head, Forward)
        fwd = head
        self.key = fwd.user_key
        held = self.guard.size
        try:
            self.state, outcome = known_event(self.rt.core, self.key, self.state, self.guard,
                                              fwd, self.rt.settings.dedupe_window)
        except Exception as e:  # noqa: BLE001 - a poison event must not stop the worker
            return _failed(self.rt, item, e), StatefulLogic.RETAIN
        finally:
            GAUGE.ids_changed(self.guard.size - held)
        GAUGE.sample(self.state)
        return self._settled(item, outcome), StatefulLogic.RETAIN

    def snapshot(self) -> tuple[str, CustomerState | None, KeyGuard]:
        return self.key, copy.deepcopy(self.state), copy.deepcopy(self.guard)


class LearnLogic(StatefulLogic[Item, int, Learning]):
    """The response and value models (one key: every treatment shares them); each item is
    learned and republished into the process's scorer.

    Snapshots are the `Learning` state; resuming installs it into the core, rebound to the
    current catalog by stable treatment ids (see `engine.recovery`).
    """

    def __init__(self, rt: Runtime, resume: Learning | None) -> None:
        self.rt = rt
        self.learning = (restore_learning(rt.core, resume) if resume is not None
                         else Learning.of(rt.core))

    def on_item(self, value: Item) -> tuple[Iterable[int], bool]:
        self.learning.apply(self.rt.core, [value])
        return [], StatefulLogic.RETAIN

    def snapshot(self) -> Learning:
        return copy.deepcopy(self.learning)


class ContextLogic(StatefulLogic[Decoded, int, tuple[str, list[float], list[dict]]]):
    """One region's context signals (keyed by region), kept in the process's as-of table."""

    def __init__(self, rt: Runtime, resume: tuple[str, list[float], list[dict]] | None) -> None:
        self.rt = rt
        self.region = ""
        if resume is not None:
            self.region, times, values = resume
            rt.core.context.restore(self.region, times, values)
            if times:
                rt.restore_watermark(times[-1])

    def on_item(self, value: Decoded) -> tuple[Iterable[int], bool]:
        ev = value.event
        if ev.region is not None:
            self.region = ev.region
            self.rt.core.context.update(ev.region, ev.ts, ev.signals)
        self.rt.ack(value.origin)
        return [], StatefulLogic.RETAIN

    def snapshot(self) -> tuple[str, list[float], list[dict]]:
        return (self.region, *self.rt.core.context.export(self.region))
