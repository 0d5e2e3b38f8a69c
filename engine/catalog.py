"""The action catalog: a user-supplied YAML file, validated and compiled to arrays.

Schema (see README "Action catalog"); every error names the file, line, field and why.
Actions × channels become *treatments*, the rows the scoring kernel ranks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from engine.expressions import Predicate, compile_expression
from features.errors import CatalogError
from features.rules import RULE_INDEX
from features.schema import CHANNELS
from features.stage import Stage

__all__ = [
    "ACTION_KINDS",
    "DEFAULT_CATALOG",
    "TRIGGERS",
    "Action",
    "Catalog",
    "ChannelPolicy",
    "load_catalog",
    "parse_catalog",
]

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")
ACTION_KINDS = ("offer", "content", "message", "service")
TRIGGERS = ("request", "stage_change", "cart_abandoned", "browse_abandoned", "post_purchase",
            "inactivity")
_STAGES = {s.label: s for s in Stage}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_FIELD = re.compile(r"\{([a-z_]+)\}")
_TEMPLATE_FIELDS = frozenset({"first_name", "cart_value", "cart_items", "orders", "category",
                              "region", "stage"})


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """Per-channel cost and contact rules."""

    name: str
    cost: float
    opt_in: bool
    outbound: bool
    quiet_hours: bool
    cap_count: int
    cap_window: float


@dataclass(frozen=True, slots=True)
class Action:
    """One catalog action (before expansion into per-channel treatments)."""

    id: str
    kind: str
    channels: tuple[str, ...]
    stages: frozenset[Stage]
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
    messages: dict[str, str]


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
    t_action: np.ndarray = field(init=False)
    t_channel: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    lever: np.ndarray = field(init=False)
    cost: np.ndarray = field(init=False)
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

    def __post_init__(self) -> None:
        self._compile()

    @property
    def n_treatments(self) -> int:
        """Rows the kernel scores (one per action × channel)."""
        return int(self.t_action.shape[0])

    def treatment(self, t: int) -> tuple[Action, str]:
        """The action and channel name of treatment row `t`."""
        return self.actions[int(self.t_action[t])], CHANNELS[int(self.t_channel[t])]

    def _compile(self) -> None:
        rows = [(a, ai, ch) for ai, a in enumerate(self.actions) for ch in a.channels]
        n = len(rows)
        self.t_action = np.array([ai for _, ai, _ in rows], dtype=np.int32)
        self.t_channel = np.array([CHANNELS.index(ch) for _, _, ch in rows], dtype=np.int32)
        self.value = np.array([a.value for a, _, _ in rows], dtype=np.float32)
        self.lever = np.array([a.lever for a, _, _ in rows], dtype=np.float32)
        self.cost = np.array(
            [a.cost.get(ch, self.channels[ch].cost) for a, _, ch in rows], dtype=np.float32)
        self.stage_mask = np.array(
            [sum(1 << int(s) for s in a.stages) for a, _, _ in rows], dtype=np.int32)
        self.trigger_mask = np.array(
            [sum(1 << TRIGGERS.index(t) for t in a.triggers) for a, _, _ in rows], dtype=np.int32)
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


# ---------------------------------------------------------------------------- parsing


class _Ctx:
    """Tracks the file name and YAML line of each path, for error messages."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: tuple[Any, ...], why: str) -> CatalogError:
        line = next((self.lines[path[:i]] for i in range(len(path), -1, -1)
                     if path[:i] in self.lines), 0)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        msg = f"{self.source}:{line}: {where or '<root>'}: {why}"
        return CatalogError(msg)


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*path, k.value)] = k.start_mark.line + 1
            _line_index(v, (*path, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*path, i), out)


def _duration(cx: _Ctx, path: tuple[Any, ...], v: Any) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
        return float(v)
    if isinstance(v, str):
        m = _DURATION.match(v)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise cx.fail(path, f"expected a duration like '30m', '2d' or seconds, got {v!r}")


def _number(cx: _Ctx, path: tuple[Any, ...], v: Any, *, lo: float = 0.0) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= lo:
        return float(v)
    raise cx.fail(path, f"expected a number >= {lo}, got {v!r}")


def _mapping(cx: _Ctx, path: tuple[Any, ...], v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    raise cx.fail(path, f"expected a mapping, got {type(v).__name__}")


def _str_list(cx: _Ctx, path: tuple[Any, ...], v: Any, allowed: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise cx.fail(path, f"expected a non-empty list of names from {sorted(allowed)}")
    for i, x in enumerate(v):
        if x not in allowed:
            raise cx.fail((*path, i), f"unknown name {x!r}; expected one of {sorted(allowed)}")
    return tuple(v)


def _unknown_keys(cx: _Ctx, path: tuple[Any, ...], obj: dict[str, Any], known: set[str]) -> None:
    for k in obj:
        if k not in known:
            raise cx.fail((*path, k), f"unknown field {k!r}; expected one of {sorted(known)}")


def _predicates(cx: _Ctx, path: tuple[Any, ...], v: Any) -> tuple[Predicate, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list):
        raise cx.fail(path, "expected an expression string or a list of them")
    out: list[Predicate] = []
    for i, text in enumerate(items):
        p = (*path, i) if isinstance(v, list) else path
        if not isinstance(text, str):
            raise cx.fail(p, f"expected an expression string, got {text!r}")
        try:
            out += compile_expression(text, RULE_INDEX)
        except ValueError as e:
            raise cx.fail(p, str(e)) from e
    return tuple(out)


def _channel(cx: _Ctx, name: str, obj: Any) -> ChannelPolicy:
    path = ("channels", name)
    o = _mapping(cx, path, obj)
    _unknown_keys(cx, path, o, {"cost", "opt_in", "outbound", "quiet_hours", "cap"})
    cap = _mapping(cx, (*path, "cap"), o.get("cap", {"count": 1000, "window": "1d"}))
    return ChannelPolicy(
        name=name,
        cost=_number(cx, (*path, "cost"), o.get("cost", 0.0)),
        opt_in=bool(o.get("opt_in", False)),
        outbound=bool(o.get("outbound", False)),
        quiet_hours=bool(o.get("quiet_hours", False)),
        cap_count=int(_number(cx, (*path, "cap", "count"), cap.get("count", 1000))),
        cap_window=_duration(cx, (*path, "cap", "window"), cap.get("window", "1d")),
    )


_ACTION_KEYS = {"id", "kind", "channels", "stages", "triggers", "value", "lever", "cost", "when",
                "context_weights", "cooldown", "suppress_after_ignores", "budget", "category",
                "messages", "description"}


def _action(cx: _Ctx, i: int, obj: Any, defaults: dict[str, Any],
            channels: dict[str, ChannelPolicy]) -> Action:
    path: tuple[Any, ...] = ("actions", i)
    o = _mapping(cx, path, obj)
    _unknown_keys(cx, path, o, _ACTION_KEYS)
    aid = o.get("id")
    if not isinstance(aid, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", aid):
        raise cx.fail((*path, "id"), f"id must be snake_case [a-z0-9_], got {aid!r}")
    kind = o.get("kind", "offer")
    if kind not in ACTION_KINDS:
        raise cx.fail((*path, "kind"), f"kind must be one of {ACTION_KINDS}, got {kind!r}")
    chans = _str_list(cx, (*path, "channels"), o.get("channels"), channels)
    stages = _str_list(cx, (*path, "stages"), o.get("stages", list(_STAGES)), _STAGES)
    triggers = _str_list(cx, (*path, "triggers"), o.get("triggers", ["request"]), TRIGGERS)
    cost = {}
    for ch, c in _mapping(cx, (*path, "cost"), o.get("cost", {})).items():
        if ch not in chans:
            raise cx.fail((*path, "cost", ch), f"cost for channel {ch!r} not in {chans}")
        cost[ch] = _number(cx, (*path, "cost", ch), c)
    weights = []
    for j, w in enumerate(o.get("context_weights", []) or []):
        wp = (*path, "context_weights", j)
        wm = _mapping(cx, wp, w)
        _unknown_keys(cx, wp, wm, {"when", "weight"})
        weights.append((_predicates(cx, (*wp, "when"), wm.get("when")),
                        _number(cx, (*wp, "weight"), wm.get("weight"))))
    messages = _mapping(cx, (*path, "messages"), o.get("messages"))
    for ch in chans:
        text = messages.get(ch)
        if not isinstance(text, str) or not text:
            raise cx.fail((*path, "messages"), f"missing message template for channel {ch!r}")
        for f in _FIELD.findall(text):
            if f not in _TEMPLATE_FIELDS:
                raise cx.fail((*path, "messages", ch),
                              f"unknown template field {{{f}}}; use {sorted(_TEMPLATE_FIELDS)}")
    category = o.get("category")
    if category is not None and not isinstance(category, str):
        raise cx.fail((*path, "category"), "category must be a string")
    return Action(
        id=aid,
        kind=kind,
        channels=chans,
        stages=frozenset(_STAGES[s] for s in stages),
        triggers=frozenset(triggers),
        value=_number(cx, (*path, "value"), o.get("value", 1.0)),
        lever=_number(cx, (*path, "lever"), o.get("lever", 1.0)),
        cost=cost,
        when=_predicates(cx, (*path, "when"), o.get("when", [])),
        when_text=tuple([o["when"]] if isinstance(o.get("when"), str) else o.get("when", [])),
        context_weights=tuple(weights),
        cooldown=_duration(cx, (*path, "cooldown"), o.get("cooldown", defaults["cooldown"])),
        suppress_after=int(_number(cx, (*path, "suppress_after_ignores"),
                                   o.get("suppress_after_ignores",
                                         defaults["suppress_after_ignores"]), lo=1)),
        budget=int(_number(cx, (*path, "budget"), o.get("budget", 2**31 - 1))),
        category=category,
        messages={ch: messages[ch] for ch in chans},
    )


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Validate a catalog document; raise `CatalogError` naming line, field and why."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        msg = f"{source}: not valid YAML: {e}"
        raise CatalogError(msg) from e
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, (), lines)
    cx = _Ctx(source, lines)
    root = _mapping(cx, (), doc)
    _unknown_keys(cx, (), root, {"version", "defaults", "channels", "contact_policy",
                                 "placements", "actions"})
    d = _mapping(cx, ("defaults",), root.get("defaults", {}))
    defaults = {"cooldown": d.get("cooldown", "1d"),
                "suppress_after_ignores": d.get("suppress_after_ignores", 3),
                "attribution_window": d.get("attribution_window", "3d"),
                "response_window": d.get("response_window", "2h")}
    chan_doc = _mapping(cx, ("channels",), root.get("channels"))
    for name in chan_doc:
        if name not in CHANNELS:
            raise cx.fail(("channels", name), f"unknown channel {name!r}; one of {CHANNELS}")
    channels = {n: _channel(cx, n, chan_doc[n]) for n in CHANNELS if n in chan_doc}
    policy = _mapping(cx, ("contact_policy",), root.get("contact_policy", {}))
    total = _mapping(cx, ("contact_policy", "total_cap"), policy.get("total_cap", {}))
    quiet = _mapping(cx, ("contact_policy", "quiet_hours"), policy.get("quiet_hours", {}))
    placements = {}
    for name, chans in _mapping(cx, ("placements",), root.get("placements", {})).items():
        placements[name] = _str_list(cx, ("placements", name), chans, channels)
    acts = root.get("actions")
    if not isinstance(acts, list) or not acts:
        raise cx.fail(("actions",), "expected a non-empty list of actions")
    actions = [_action(cx, i, a, defaults, channels) for i, a in enumerate(acts)]
    respond = _duration(cx, ("defaults", "response_window"), defaults["response_window"])
    attribute = _duration(cx, ("defaults", "attribution_window"), defaults["attribution_window"])
    if respond > attribute:
        raise cx.fail(("defaults", "response_window"), "must not exceed attribution_window")
    seen: set[str] = set()
    for i, a in enumerate(actions):
        if a.id in seen:
            raise cx.fail(("actions", i, "id"), f"duplicate action id {a.id!r}")
        seen.add(a.id)
    return Catalog(
        version=str(root.get("version", "1")),
        actions=actions,
        channels=channels,
        placements=placements,
        total_cap=(int(_number(cx, ("contact_policy", "total_cap", "count"),
                               total.get("count", 1000))),
                   _duration(cx, ("contact_policy", "total_cap", "window"),
                             total.get("window", "1d"))),
        quiet_start=_number(cx, ("contact_policy", "quiet_hours", "start"),
                            quiet.get("start", 21)),
        quiet_end=_number(cx, ("contact_policy", "quiet_hours", "end"), quiet.get("end", 8)),
        attribution_window=attribute,
        response_window=respond,
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog file (the shipped default when `path` is None)."""
    p = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        text = p.read_text()
    except OSError as e:
        msg = f"cannot read catalog {str(p)!r}: {e.strerror}"
        raise CatalogError(msg) from e
    return parse_catalog(text, str(p))
