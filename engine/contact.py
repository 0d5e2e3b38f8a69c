"""Eligibility and contact policy: consent, caps, quiet hours, cooldowns, suppression.

Produces the per-channel and per-action masks the kernel reads, and the reason for each
exclusion. Stage, trigger, budget and rule checks happen inside the kernel itself.
Cooldowns hold per action (any channel) or, where the catalog says `cooldown_scope:
channel`, per action × channel. Suppression after ignores is a hard block only where the
catalog declares `suppress_after_ignores`, and it lifts as the ignores age (14-day decay);
elsewhere fatigue is learned by the model from the same signals.
"""

from __future__ import annotations

import numpy as np

from engine.catalog import Catalog
from features.state import CustomerState, Slot
from features.vector import local_hour

__all__ = ["ContactPolicy", "in_quiet_hours"]


def in_quiet_hours(hour: float, start: float, end: float) -> bool:
    """Whether local `hour` falls in [start, end), wrapping past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


class ContactPolicy:
    """Computes channel and action masks for a decision, with exclusion reasons."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._channels = catalog.world.channels
        self._cooldown = np.array([a.cooldown for a in catalog.actions], dtype=np.float64)
        self._suppress = np.array([a.suppress_after for a in catalog.actions], dtype=np.int64)
        self._per_channel = np.array([a.cooldown_scope == "channel" for a in catalog.actions])
        self._outbound = [catalog.channels[c].outbound for c in self._channels]
        self._is_outbound = {c: p.outbound for c, p in catalog.channels.items()}
        self._tid = {catalog.treatment_id(t): t for t in range(catalog.n_treatments)}
        self._action = {a.id: i for i, a in enumerate(catalog.actions)}
        self._window = max([p.cap_window for p in catalog.channels.values()]
                           + [catalog.total_cap[1]])

    def channels(self, state: CustomerState, now: float,
                 placement: str | None) -> tuple[np.ndarray, dict[str, str]]:
        """uint8 mask over the catalog's channels and a reason for each closed channel."""
        cat = self.catalog
        ok = np.zeros(len(self._channels), dtype=np.uint8)
        reasons: dict[str, str] = {}
        if placement is not None:
            allowed = set(cat.placements.get(placement, ()))
        else:
            allowed = {c for i, c in enumerate(self._channels) if self._outbound[i]}
        recent = [c for c in state.contacts if now - c.ts < self._window]
        outbound_recent = [c for c in recent if now - c.ts < cat.total_cap[1]
                           and self._is_outbound.get(c.channel, False)]
        total_full = len(outbound_recent) >= cat.total_cap[0]
        quiet = in_quiet_hours(local_hour(state.row[Slot.TZ_OFFSET_H], now), cat.quiet_start,
                               cat.quiet_end)
        for i, name in enumerate(self._channels):
            policy = cat.channels[name]
            bit = 1 << i
            if name not in allowed:
                continue  # not a channel of this placement / trigger: no reason to report
            if state.consent_denied & bit or (policy.opt_in and not state.consent_granted & bit):
                reasons[name] = "consent"
            elif sum(1 for c in recent if c.channel == name
                     and now - c.ts < policy.cap_window) >= policy.cap_count:
                reasons[name] = "channel_cap"
            elif policy.outbound and total_full:
                reasons[name] = "total_cap"
            elif policy.quiet_hours and quiet:
                reasons[name] = "quiet_hours"
            else:
                ok[i] = 1
        return ok, reasons

    def actions(self, state: CustomerState, now: float) -> tuple[np.ndarray, np.ndarray]:
        """uint8 masks over actions (cooldown after any channel; declared suppression) and
        over treatments (per action × channel cooldowns)."""
        cat = self.catalog
        ok = np.ones(len(cat.actions), dtype=np.uint8)
        t_ok = np.ones(cat.n_treatments, dtype=np.uint8)
        for tid, ts in state.last_sent.items():
            t = self._tid.get(tid)
            if t is None:  # a treatment the catalog no longer has
                continue
            a = int(cat.t_action[t])
            if now - ts < self._cooldown[a]:
                if self._per_channel[a]:
                    t_ok[t] = 0
                else:
                    ok[a] = 0
        for aid, (n, ts) in state.ignores.items():
            a = self._action.get(aid)
            if a is not None and self._suppress[a] > 0:
                left = n * float(np.exp(-max(now - ts, 0.0) / (14 * 86400.0)))
                if left >= self._suppress[a] - 1e-9:
                    ok[a] = 0
        return ok, t_ok

    def prune(self, state: CustomerState, now: float) -> None:
        """Drop contact history no cap, cooldown or quiet-hours check can still use."""
        state.contacts = [c for c in state.contacts if now - c.ts < self._window][-32:]
        cat = self.catalog
        stale = [tid for tid, ts in state.last_sent.items()
                 if tid not in self._tid
                 or now - ts >= self._cooldown[int(cat.t_action[self._tid[tid]])]]
        for tid in stale:
            del state.last_sent[tid]
