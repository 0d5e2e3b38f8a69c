"""Eligibility and contact policy: consent, caps, quiet hours, cooldowns, suppression.

Produces the per-channel and per-action masks the kernel reads, and the reason for each
exclusion. Stage, trigger, budget and rule checks happen inside the kernel itself.
"""

from __future__ import annotations

import numpy as np

from engine.catalog import Catalog
from features.schema import CHANNELS
from features.state import CustomerState
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
        self._cooldown = np.array([a.cooldown for a in catalog.actions], dtype=np.float64)
        self._suppress = np.array([a.suppress_after for a in catalog.actions], dtype=np.int64)
        self._opt_in = [catalog.channels.get(c) is not None and catalog.channels[c].opt_in
                        for c in CHANNELS]
        self._outbound = [c in catalog.channels and catalog.channels[c].outbound
                          for c in CHANNELS]
        self._window = max([p.cap_window for p in catalog.channels.values()]
                           + [catalog.total_cap[1]])

    def channels(self, state: CustomerState, now: float,
                 placement: str | None) -> tuple[np.ndarray, dict[str, str]]:
        """uint8 mask over `CHANNELS` and a reason for each closed channel."""
        cat = self.catalog
        ok = np.zeros(len(CHANNELS), dtype=np.uint8)
        reasons: dict[str, str] = {}
        if placement is not None:
            allowed = set(cat.placements.get(placement, ()))
        else:
            allowed = {c for i, c in enumerate(CHANNELS) if self._outbound[i]}
        recent = [c for c in state.contacts if now - c.ts < self._window]
        outbound_recent = [c for c in recent if now - c.ts < cat.total_cap[1]
                           and self._outbound[c.channel]]
        total_full = len(outbound_recent) >= cat.total_cap[0]
        quiet = in_quiet_hours(local_hour(state, now), cat.quiet_start, cat.quiet_end)
        for i, name in enumerate(CHANNELS):
            policy = cat.channels.get(name)
            bit = 1 << i
            if policy is None or name not in allowed:
                continue  # not a channel of this placement / trigger: no reason to report
            if state.consent_denied & bit or (policy.opt_in and not state.consent_granted & bit):
                reasons[name] = "consent"
            elif sum(1 for c in recent if c.channel == i
                     and now - c.ts < policy.cap_window) >= policy.cap_count:
                reasons[name] = "channel_cap"
            elif policy.outbound and total_full:
                reasons[name] = "total_cap"
            elif policy.quiet_hours and quiet:
                reasons[name] = "quiet_hours"
            else:
                ok[i] = 1
        return ok, reasons

    def actions(self, state: CustomerState, now: float) -> np.ndarray:
        """uint8 mask over actions: 0 while in cooldown or suppressed after ignores."""
        ok = np.ones(len(self.catalog.actions), dtype=np.uint8)
        for a, ts in state.last_action_ts.items():
            if now - ts < self._cooldown[a]:
                ok[a] = 0
        for a, n in state.ignores.items():
            if n >= self._suppress[a]:
                ok[a] = 0
        return ok

    def prune(self, state: CustomerState, now: float) -> None:
        """Drop contact history no cap, cooldown or quiet-hours check can still use."""
        state.contacts = [c for c in state.contacts if now - c.ts < self._window][-32:]
        stale = [a for a, ts in state.last_action_ts.items() if now - ts >= self._cooldown[a]]
        for a in stale:
            del state.last_action_ts[a]
