"""The action catalog: a user-supplied YAML file, validated and compiled to arrays.

The catalog declares the user's whole world (schema: README "Action catalog"): its
vocabulary (`world`: categories with aliases and paths, traits, products, action kinds),
channels by any name, journeys (`triggers`), what answers a decision (`outcomes`), the
lifecycle, learner settings and the actions. Every error names the file, line, field and why.
Actions × channels become *treatments*, the rows the scoring kernel ranks; a treatment's
stable id is `action@channel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.expressions import Predicate
from engine.learning_config import LearningConfig
from engine.products import ProductCatalog
from engine.templates import Message, Template
from features.rules import RuleSpace
from features.stage import Lifecycle
from features.state import Layout
from features.vector import FeatureSpace
from features.world import World

__all__ = [
    "BUILTIN_TRIGGERS",
    "DEFAULT_CATALOG",
    "Action",
    "Catalog",
    "ChannelPolicy",
    "ItemSpec",
    "Outcomes",
    "Trigger",
    "load_catalog",
    "parse_catalog",
]

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")
BUILTIN_TRIGGERS = ("request", "stage_change", "inactivity")


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """Per-channel cost, contact rules and response window."""

    name: str
    cost: float
    opt_in: bool
    outbound: bool
    quiet_hours: bool
    cap_count: int
    cap_window: float
    response_window: float
    html: bool = False


@dataclass(frozen=True, slots=True)
class Trigger:
    """A journey step: `delay` after one of `on`, cancelled by `cancel_on`, fired only when
    `when` holds, postponed into `send_window` (local hours) when it has one."""

    name: str
    on: frozenset[str]
    delay: float
    cancel_on: frozenset[str] = frozenset()
    when: tuple[Predicate, ...] = ()
    send_window: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Events that answer a decision: responses, and conversions with their value (a
    property name or a fixed number)."""

    respond: frozenset[str]
    convert: dict[str, str | float]


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """Which items a decision carries (from the product catalog)."""

    source: str
    limit: int = 3
    min: int = 0


@dataclass(frozen=True, slots=True)
class Action:
    """One catalog action (before expansion into per-channel treatments)."""

    id: str
    kind: str
    channels: tuple[str, ...]
    stages: frozenset[int]
    triggers: frozenset[str]
    value: float
    lever: float
    cost: dict[str, float]
    when: tuple[Predicate, ...]
    when_text: tuple[str, ...]
    context_weights: tuple[tuple[tuple[Predicate, ...], float], ...]
    cooldown: float
    suppress_after: int
    budget: int
    category: str | None
    messages: dict[str, Message]
    category_index: int = -1
    attributes: dict[str, str | float] = field(default_factory=dict)
    cooldown_scope: str = "action"
    response_window: dict[str, float] = field(default_factory=dict)
    attribution_window: float = 0.0
    outcomes: Outcomes | None = None
    items: ItemSpec | None = None
    coupon: str | None = None
    deep_link: Template | None = None

    @property
    def discount(self) -> float:
        """The action's discount (0..1), from `attributes.discount`."""
        d = self.attributes.get("discount", 0.0)
        return float(d) if isinstance(d, int | float) else 0.0


@dataclass(slots=True)
class Catalog:
    """A validated catalog, with treatment arrays for the kernel."""

    version: str
    actions: list[Action]
    channels: dict[str, ChannelPolicy]
    placements: dict[str, tuple[str, ...]]
    total_cap: tuple[int, float]
    quiet_start: float
    quiet_end: float
    attribution_window: float
    response_window: float
    """`defaults.response_window` (channels without their own window and without that
    default use 2 h inbound, 1 d outbound)."""
    world: World
    lifecycle: Lifecycle
    triggers: dict[str, Trigger] = field(default_factory=dict)
    outcomes: Outcomes = field(
        default_factory=lambda: Outcomes(frozenset({"Promotion Clicked"}),
                                         {"Order Completed": "revenue"}))
    learning: LearningConfig = field(default_factory=LearningConfig)
    products: ProductCatalog | None = None
    source: str = "<catalog>"
    layout: Layout = field(init=False)
    features: FeatureSpace = field(init=False)
    rules: RuleSpace = field(init=False)
    t_action: np.ndarray = field(init=False)
    t_channel: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    lever: np.ndarray = field(init=False)
    cost: np.ndarray = field(init=False)
    respond_window: np.ndarray = field(init=False)
    stage_mask: np.ndarray = field(init=False)
    trigger_mask: np.ndarray = field(init=False)
    pred_ptr: np.ndarray = field(init=False)
    pred_feat: np.ndarray = field(init=False)
    pred_op: np.ndarray = field(init=False)
    pred_val: np.ndarray = field(init=False)
    cw_ptr: np.ndarray = field(init=False)
    cw_feat: np.ndarray = field(init=False)
    cw_op: np.ndarray = field(init=False)
    cw_val: np.ndarray = field(init=False)
    cw_group: np.ndarray = field(init=False)
    cw_weight: np.ndarray = field(init=False)
    trigger_names: tuple[str, ...] = field(init=False)
    treatment_ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.layout = Layout.of(self.world)
        self.features = FeatureSpace(self.layout, self.lifecycle.stages)
        self.rules = RuleSpace(self.layout)
        self._compile()

    @property
    def n_treatments(self) -> int:
        """Rows the kernel scores (one per action × channel)."""
        return int(self.t_action.shape[0])

    def treatment(self, t: int) -> tuple[Action, str]:
        """The action and channel name of treatment row `t`."""
        return self.actions[int(self.t_action[t])], self.world.channels[int(self.t_channel[t])]

    def treatment_id(self, t: int) -> str:
        """The stable id of a treatment: `action@channel` (survives catalog reordering)."""
        return self.treatment_ids[t]

    def trigger_bit(self, name: str) -> int:
        """The kernel's bit for a trigger name."""
        return 1 << self.trigger_names.index(name)

    def window_of(self, action: Action, channel: str) -> float:
        """The response window of one treatment (action override, else channel, else default)."""
        return action.response_window.get(channel, self.channels[channel].response_window)

    def attribution_of(self, action: Action) -> float:
        """An action's attribution window."""
        return action.attribution_window or self.attribution_window

    def outcomes_of(self, action: Action) -> Outcomes:
        """The events that answer one action's decisions."""
        return action.outcomes or self.outcomes

    def _compile(self) -> None:
        rows = [(a, ai, ch) for ai, a in enumerate(self.actions) for ch in a.channels]
        n = len(rows)
        self.trigger_names = (*BUILTIN_TRIGGERS, *self.triggers)
        if len(self.trigger_names) > 31 or len(self.lifecycle.stages) > 31:
            msg = f"{self.source}: at most 31 triggers and 31 stages (the kernel's bit masks)"
            raise ValueError(msg)
        ch_index = self.world.channel_index
        self.t_action = np.array([ai for _, ai, _ in rows], dtype=np.int32)
        self.t_channel = np.array([ch_index(ch) for _, _, ch in rows], dtype=np.int32)
        self.treatment_ids = tuple(f"{a.id}@{ch}" for a, _, ch in rows)
        self.value = np.array([a.value for a, _, _ in rows], dtype=np.float32)
        self.lever = np.array([a.lever for a, _, _ in rows], dtype=np.float32)
        self.cost = np.array(
            [a.cost.get(ch, self.channels[ch].cost) for a, _, ch in rows], dtype=np.float32)
        self.respond_window = np.array([self.window_of(a, ch) for a, _, ch in rows],
                                       dtype=np.float64)
        self.stage_mask = np.array(
            [sum(1 << s for s in a.stages) for a, _, _ in rows], dtype=np.int32)
        self.trigger_mask = np.array(
            [sum(1 << self.trigger_names.index(t) for t in a.triggers) for a, _, _ in rows],
            dtype=np.int32)
        preds = [a.when for a, _, _ in rows]
        self.pred_ptr = np.cumsum([0] + [len(p) for p in preds]).astype(np.int32)
        flat = [p for ps in preds for p in ps]
        self.pred_feat = np.array([p.feature for p in flat], dtype=np.int32)
        self.pred_op = np.array([p.op for p in flat], dtype=np.int32)
        self.pred_val = np.array([p.value for p in flat], dtype=np.float32)
        # context weights: per treatment, groups of predicates each with a multiplier
        cw_rows: list[list[tuple[Predicate, int, float]]] = []
        for a, _, _ in rows:
            items = []
            for g, (ps, w) in enumerate(a.context_weights):
                items += [(p, g, w) for p in ps]
            cw_rows.append(items)
        self.cw_ptr = np.cumsum([0] + [len(r) for r in cw_rows]).astype(np.int32)
        cw = [it for r in cw_rows for it in r]
        self.cw_feat = np.array([p.feature for p, _, _ in cw], dtype=np.int32)
        self.cw_op = np.array([p.op for p, _, _ in cw], dtype=np.int32)
        self.cw_val = np.array([p.value for p, _, _ in cw], dtype=np.float32)
        self.cw_group = np.array([g for _, g, _ in cw], dtype=np.int32)
        self.cw_weight = np.array([w for _, _, w in cw], dtype=np.float32)
        assert self.pred_ptr.shape[0] == n + 1


def parse_catalog(text: str, source: str = "<catalog>", *, base: Path | None = None) -> Catalog:
    """Validate a catalog document; raise `CatalogError` naming line, field and why.

    `base` is the folder relative paths in the catalog (the products file) resolve against.
    """
    from engine.catalog_parse import parse

    return parse(text, source, base=base)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog file (the shipped default when `path` is None)."""
    from features.errors import CatalogError

    p = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        text = p.read_text()
    except OSError as e:
        msg = f"cannot read catalog {str(p)!r}: {e.strerror}"
        raise CatalogError(msg) from e
    return parse_catalog(text, str(p), base=p.parent)
