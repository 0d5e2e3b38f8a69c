"""The validated form of a world config: frozen dataclasses (`bench/worlds/config.py`
parses YAML into them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ActionSpec",
    "Behaviour",
    "CategorySpec",
    "ChannelSpec",
    "ChurnSpec",
    "ConversionSpec",
    "DomainEvent",
    "SupportSpec",
    "TraitSpec",
    "WorldConfig",
    "WorldError",
]


class WorldError(ValueError):
    """A world config that cannot be simulated; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """A declared category: the label, the aliases the catalog lists, the paths customers
    browse under (events use these strings), item prices and how many items it holds."""

    id: str
    label: str
    aliases: tuple[str, ...]
    paths: tuple[str, ...]
    price: tuple[float, float]
    items: int


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel: what the catalog states (cost, consent, caps, response window) and how
    customers use it (response delay, fatigue per contact, sensitivity to the hour)."""

    name: str
    cost: float
    opt_in: bool
    outbound: bool
    quiet_hours: bool
    cap: tuple[int, str]
    consent: float
    delay: tuple[float, float]
    window: float
    fatigue: float
    hours: float
    pref: float


@dataclass(frozen=True, slots=True)
class ConversionSpec:
    """What a response turns into: `event` with `revenue` after `delay`, with probability
    `p`; revenue uniform in `value` (or an item's price × (1 − discount) when `price`)."""

    event: str
    p: float
    value: tuple[float, float]
    price: bool
    delay: tuple[float, float]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action and its true effect on customers (hidden from the learners)."""

    id: str
    kind: str
    category: str
    channels: tuple[str, ...]
    triggers: tuple[str, ...]
    discount: float
    price_band: str
    base: float
    taste: float
    risk: float
    value: float
    conversion: ConversionSpec | None
    effects: dict[str, float]
    cooldown: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Population parameters of the hidden customer traits and their dynamics."""

    taste_sd: float
    favourite: float
    channel_sd: float
    discount_mean: float
    discount_sd: float
    hour_weight: float
    hour_peaks: tuple[float, ...]
    hour_spread: float
    fatigue_weight: float
    fatigue_recovery: float
    gap_days: float
    gap_sd: float
    views: float
    view_focus: float
    drift_at: float | None
    drift_keep: float
    drift_shift: dict[str, float]
    risk_sd: float


@dataclass(frozen=True, slots=True)
class TraitSpec:
    """An identify trait drawn from a latent: numeric `base + scale·z + noise`, boolean
    `z + noise > threshold`, categorical: `values` by quantile bins of `z + noise`."""

    name: str
    type: str
    latent: str
    base: float
    scale: float
    noise: float
    threshold: float
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A track event a visit emits with probability σ(base + weight·z); numeric properties
    drawn like numeric traits."""

    event: str
    base: float
    latent: str
    weight: float
    properties: dict[str, tuple[str, float, float, float]]


@dataclass(frozen=True, slots=True)
class SupportSpec:
    """Support tickets: every `gap_days` on average; a bad one (probability `bad`) adds
    `risk_bad` to the hidden churn risk, a good one `risk_good`."""

    gap_days: float
    bad: float
    risk_bad: float
    risk_good: float
    resolve: tuple[float, float]
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChurnSpec:
    """Daily churn hazard `daily · exp(risk_weight · risk)`; churned customers stop."""

    daily: float
    risk_weight: float
    event: str


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """A whole world."""

    name: str
    description: str
    start: float
    days: float
    customers: int
    timezones: tuple[str, ...]
    placement: str
    categories: dict[str, CategorySpec]
    noise_paths: tuple[str, ...]
    channels: dict[str, ChannelSpec]
    actions: tuple[ActionSpec, ...]
    behaviour: Behaviour
    traits: tuple[TraitSpec, ...]
    events: tuple[DomainEvent, ...]
    support: SupportSpec | None
    churn: ChurnSpec | None
    catalog: dict[str, Any] = field(default_factory=dict)
    """Pass-through catalog sections (version, defaults, placements, contact_policy,
    triggers, lifecycle, world.traits)."""
