"""Hidden customers of a world and the true response model (the oracle's arithmetic).

A customer has category tastes (and the tastes they drift to), a preference per channel,
consent per opt-in channel, a discount sensitivity, a peak local hour, a visit rate and a
churn risk. The probability of responding to action `a` on channel `ch` at time `ts` is

    σ(base_a + taste_w_a · taste[cat_a](ts) + pref[ch] + sensitivity · discount_a
      + hours_ch · hour_weight · cos(2π (local_hour(ts) − peak) / 24)
      − fatigue_weight · Σ_j fatigue_ch_j · exp(−(ts − t_j) / recovery)
      + risk_w_a · risk(ts))

and zero once churned; a response converts with the action's probability into revenue.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from bench.worlds.config import ActionSpec, ChannelSpec, WorldConfig

__all__ = ["Customer", "draw_customer", "expected_value", "latent", "local_hour",
           "response_probabilities", "response_probability"]

DAY = 86400.0
_ZONES: dict[str, ZoneInfo] = {}


def local_hour(ts: float, tz: str) -> float:
    """Local hour of day (0–24) at `ts` in time zone `tz`."""
    zone = _ZONES.get(tz)
    if zone is None:
        zone = _ZONES[tz] = ZoneInfo(tz)
    dt = datetime.fromtimestamp(ts, UTC).astimezone(zone)
    return dt.hour + dt.minute / 60.0 + dt.second / 3600.0


@dataclass(slots=True)
class Customer:
    """One simulated customer: hidden parameters and the state the world keeps."""

    idx: int
    user: str
    tz: str
    taste: np.ndarray
    taste_after: np.ndarray
    pref: dict[str, float]
    consent: dict[str, bool]
    sensitivity: float
    peak: float
    hour_weight: float
    gap_days: float
    risk: float
    visits: random.Random
    responses: random.Random
    contacts: list[tuple[float, float]] = field(default_factory=list)
    churned_at: float | None = None
    identified: bool = False
    last_check: float = 0.0


def draw_customer(cfg: WorldConfig, seed: int, idx: int) -> Customer:
    """Customer `idx` of a world under `seed` (independent streams per customer)."""
    rng = np.random.default_rng([seed, idx, 1])
    b = cfg.behaviour
    n = len(cfg.categories)

    def tastes() -> np.ndarray:
        t = rng.normal(0.0, b.taste_sd, n)
        t[rng.integers(n)] += b.favourite
        return t

    taste = tastes()
    keep = b.drift_keep
    shift = np.array([b.drift_shift.get(c, 0.0) for c in cfg.categories])
    after = keep * taste + math.sqrt(max(1.0 - keep * keep, 0.0)) * tastes() + shift
    pref = {ch: float(c.pref + rng.normal(0.0, b.channel_sd)) for ch, c in cfg.channels.items()}
    consent = {ch: bool(rng.random() < c.consent) for ch, c in cfg.channels.items()
               if c.opt_in}
    peak = float(b.hour_peaks[rng.integers(len(b.hour_peaks))] + rng.normal(0, b.hour_spread))
    return Customer(
        idx=idx, user=f"{cfg.name}-{seed}-{idx}", tz=cfg.timezones[idx % len(cfg.timezones)],
        taste=taste, taste_after=after, pref=pref, consent=consent,
        sensitivity=float(max(rng.normal(b.discount_mean, b.discount_sd), 0.0)),
        peak=peak % 24.0, hour_weight=float(rng.uniform(0.5, 1.5) * b.hour_weight),
        gap_days=float(b.gap_days * math.exp(rng.normal(0.0, b.gap_sd))),
        risk=float(rng.normal(0.0, b.risk_sd)),
        visits=random.Random(f"{seed}/visits/{idx}"),
        responses=random.Random(f"{seed}/responses/{idx}"))


def _tastes(cfg: WorldConfig, c: Customer, ts: float) -> np.ndarray:
    at = cfg.behaviour.drift_at
    if at is not None and ts >= cfg.start + at * cfg.days * DAY:
        return c.taste_after
    return c.taste


def latent(cfg: WorldConfig, c: Customer, name: str, ts: float) -> float:
    """A latent's value (about unit scale) at `ts`, for traits and domain events."""
    kind, _, arg = name.partition(":")
    if kind == "taste":
        return float(_tastes(cfg, c, ts)[_category_index(cfg)[arg]])
    if kind == "channel":
        return c.pref[arg]
    if kind == "discount":
        b = cfg.behaviour
        return (c.sensitivity - b.discount_mean) / max(b.discount_sd, 1e-9)
    if kind == "risk":
        return c.risk
    if kind == "hour":
        return math.cos(2 * math.pi * c.peak / 24.0)
    return -math.log(c.gap_days / cfg.behaviour.gap_days)  # activity


def fatigue(cfg: WorldConfig, c: Customer, ts: float) -> float:
    """Recent contacts, each weighted by its channel and decayed over the recovery time."""
    tau = cfg.behaviour.fatigue_recovery
    return sum(w * math.exp(-(ts - t) / tau) for t, w in c.contacts if t <= ts)


def response_probabilities(cfg: WorldConfig, c: Customer,
                           pairs: list[tuple[ActionSpec, ChannelSpec]], ts: float) -> list[float]:
    """P(response) of customer `c` to each (action, channel) sent at `ts`."""
    if c.churned_at is not None and ts >= c.churned_at:
        return [0.0] * len(pairs)
    tastes = _tastes(cfg, c, ts)
    index = _category_index(cfg)
    hour = c.hour_weight * math.cos(2 * math.pi * (local_hour(ts, c.tz) - c.peak) / 24.0)
    base = -cfg.behaviour.fatigue_weight * fatigue(cfg, c, ts)
    out = []
    for a, ch in pairs:
        if ch.opt_in and not c.consent.get(ch.name, False):
            out.append(0.0)  # never reached: Journey does not send without consent
            continue
        z = (base + a.base + a.taste * float(tastes[index[a.category]]) + c.pref[ch.name]
             + c.sensitivity * a.discount + ch.hours * hour + a.risk * c.risk)
        out.append(1.0 / (1.0 + math.exp(-z)))
    return out


def response_probability(cfg: WorldConfig, c: Customer, a: ActionSpec, ch: ChannelSpec,
                         ts: float) -> float:
    """P(response) of customer `c` to action `a` sent on channel `ch` at `ts`."""
    return response_probabilities(cfg, c, [(a, ch)], ts)[0]


_INDEX: dict[int, tuple[WorldConfig, dict[str, int]]] = {}


def _category_index(cfg: WorldConfig) -> dict[str, int]:
    hit = _INDEX.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        hit = _INDEX[id(cfg)] = (cfg, {k: i for i, k in enumerate(cfg.categories)})
    return hit[1]


def mean_price(cfg: WorldConfig, a: ActionSpec) -> float:
    """Expected item price of an action's category."""
    lo, hi = cfg.categories[a.category].price
    return (lo + hi) / 2.0


def expected_value(cfg: WorldConfig, a: ActionSpec) -> float:
    """E[value of one response]: P(conversion) × E[revenue], or the action's fixed value."""
    conv = a.conversion
    if conv is None:
        return a.value
    revenue = mean_price(cfg, a) * (1.0 - a.discount) if conv.price else sum(conv.value) / 2
    return conv.p * revenue
