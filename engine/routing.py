"""Identity stitching as two keyed tiers: device profiles, then known customers.

An event with an `anonymousId` first reaches its device profile (keyed by the anonymous
id). While the device is anonymous, its profile holds the customer state and decisions are
made there. The first event that carries a `userId` links the device: its state is handed
over (`Forward.transfer`) and merged into the known customer's state, and every later event
of that device is forwarded. Events with only a `userId` go straight to the known tier.
The bytewax flow runs the tiers as two keyed steps; the `Engine` runs them over dicts.

Each tier admits events through the key's `KeyGuard` first (duplicate `messageId`s and
erased customers are skipped). The id is remembered only after the step returned, by the
tier that handled the event (a forwarded event is remembered by the known tier): an event
whose feature or decision code raised (the caller dead-letters it) leaves no id behind, so
its corrected resend under the same `messageId` is processed. A `Forget Me` / `User
Deleted` event erases the device and is forwarded so the known customer erases itself too;
both keep only a tombstone.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import metrics
from engine.core import DecisionCore, StepResult
from features.guard import KeyGuard, Verdict
from features.identity import customer_key, known_id
from features.schema import Event
from features.state import CustomerState

__all__ = ["MAX_DEVICES", "DeviceProfile", "Forward", "Outcome", "device_event", "device_step",
           "is_forget", "known_event", "known_step"]

FORGET_EVENTS = ("Forget Me", "User Deleted")
MAX_DEVICES = 16
"""Linked devices a customer's state remembers (the latest), for erasure to reach."""


def is_forget(ev: Event) -> bool:
    """An erasure request (Segment's `User Deleted`, or our `Forget Me`)."""
    return ev.type == "track" and ev.event in FORGET_EVENTS


@dataclass(slots=True)
class Forward:
    """An event re-keyed to a known customer, with the device's state on first link."""

    user_key: str
    customer_id: str | None
    event: Event
    transfer: CustomerState | None = None
    device_key: str | None = None
    """The device's state key when the event came through one (her linked devices are kept,
    so that an erasure by id reaches what each device was sent while anonymous)."""


class DeviceProfile:
    """What the device tier keeps per anonymous id."""

    __slots__ = ("linked_key", "state")

    def __init__(self) -> None:
        self.linked_key: str | None = None
        """Keyed hash of the customer this device belongs to (never the raw id)."""
        self.state: CustomerState | None = None

    def __getstate__(self) -> tuple[str | None, CustomerState | None]:
        return self.linked_key, self.state

    def __setstate__(self, s: tuple[str | None, CustomerState | None]) -> None:
        self.linked_key, self.state = s


def device_step(core: DecisionCore, secret: bytes, device_key: str, profile: DeviceProfile,
                event: Event) -> tuple[StepResult | None, Forward | None]:
    """Handle an event in the device tier: decide while anonymous, else forward."""
    if event.user_id is not None:
        user_key = customer_key(known_id(event.user_id), secret)
        transfer = None
        if profile.linked_key != user_key:
            profile.linked_key = user_key
            transfer, profile.state = profile.state, None
        return None, Forward(user_key, event.user_id, event, transfer, device_key)
    if profile.linked_key is not None:  # the known tier has the id (its state was created
        return None, Forward(profile.linked_key, None, event, None, device_key)  # on link)
    if profile.state is None:
        anon = event.anonymous_id or event.previous_id or ""
        profile.state = core.new_state(anon, known=False)
    return core.handle(device_key, profile.state, event), None


def known_step(core: DecisionCore, user_key: str, state: CustomerState | None,
               fwd: Forward) -> tuple[CustomerState, StepResult]:
    """Handle a (forwarded) event in the known tier, merging a transferred device state."""
    if state is None:
        state = core.new_state(fwd.customer_id or "", known=True)
    if fwd.transfer is not None:
        core.catalog.layout.merge(state, fwd.transfer)
    if fwd.device_key is not None and fwd.device_key not in state.devices:
        state.devices = [*state.devices, fwd.device_key][-MAX_DEVICES:]
    return state, core.handle(user_key, state, fwd.event)


@dataclass(slots=True)
class Outcome:
    """What a tier did with one event."""

    result: StepResult | None = None
    forward: Forward | None = None
    skipped: Verdict = None
    erased: bool = False
    devices: tuple[str, ...] = ()
    """With `erased` in the known tier: the state keys of her linked devices."""


def _counted(outcome: Outcome) -> Outcome:
    """Count a skipped event or an erasure (for the flow and the `Engine` alike)."""
    if outcome.skipped is not None:
        metrics.SKIPPED.labels(outcome.skipped).inc()
    if outcome.erased:
        metrics.ERASURES.inc()
    return outcome


def device_event(core: DecisionCore, secret: bytes, key: str, profile: DeviceProfile,
                 guard: KeyGuard, event: Event, window: float) -> Outcome:
    """The device tier for one event: admit, erase, decide anonymously or forward."""
    forget = is_forget(event)
    skipped = guard.check(event.message_id, event.ts, window)
    if skipped == "duplicate" or (skipped == "erased" and not forget):
        return _counted(Outcome(skipped=skipped))
    if forget:  # (also through an erased device: the request may name a user)
        target = (customer_key(known_id(event.user_id), secret) if event.user_id is not None
                  else profile.linked_key)
        profile.linked_key = profile.state = None
        guard.erase(event.ts)
        fwd = Forward(target, event.user_id, event) if target is not None else None
        return _counted(Outcome(forward=fwd, erased=True))
    res, fwd = device_step(core, secret, key, profile, event)  # raises on a poison event
    if fwd is None:
        guard.remember(event.message_id, event.ts)
    else:  # the known tier remembers it once it has handled it
        guard.touch(event.ts)
    return Outcome(result=res, forward=fwd)


def known_event(core: DecisionCore, user_key: str, state: CustomerState | None,
                guard: KeyGuard, fwd: Forward, window: float
                ) -> tuple[CustomerState | None, Outcome]:
    """The known tier for one (forwarded) event: admit, erase, or update and decide."""
    ev = fwd.event
    skipped = guard.check(ev.message_id, ev.ts, window)
    if skipped is not None:
        return state, _counted(Outcome(skipped=skipped))
    if is_forget(ev):
        guard.erase(ev.ts)
        devices = tuple(state.devices) if state is not None else ()
        return None, _counted(Outcome(erased=True, devices=devices))
    state, res = known_step(core, user_key, state, fwd)  # raises on a poison event
    guard.remember(ev.message_id, ev.ts)
    return state, Outcome(result=res)
