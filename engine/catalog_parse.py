"""Parse and validate a catalog document into an `engine.catalog.Catalog`.

Every error names the file, line, field and why (`engine.yamlcheck`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.catalog import (
    BUILTIN_TRIGGERS,
    Action,
    Catalog,
    ChannelPolicy,
    ItemSpec,
    Outcomes,
    Trigger,
)
from engine.expressions import Predicate, compile_expression
from engine.learning_config import LearningConfig
from engine.products import ITEM_SOURCES, ProductCatalog, load_products
from engine.templates import Message, compile_message, compile_template
from engine.yamlcheck import Ctx, load_yaml
from features.errors import CatalogError
from features.rules import RuleSpace
from features.stage import DeclaredLifecycle, Lifecycle, RetailLifecycle, Transition
from features.state import Layout
from features.world import TRAIT_SOURCES, TRAIT_TYPES, Trait, World

__all__ = ["parse"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
INBOUND_WINDOW = 2 * 3600.0
"""Response window of an inbound channel (web, app: an answer comes in the session) when
neither the channel nor `defaults.response_window` sets one."""
OUTBOUND_WINDOW = 86400.0
"""Response window of an outbound channel (email, SMS, a call: answers come later)."""
_ROOT_KEYS = {"version", "defaults", "world", "channels", "contact_policy", "placements",
              "triggers", "outcomes", "lifecycle", "learning", "actions"}
_ACTION_KEYS = {"id", "kind", "channels", "stages", "triggers", "value", "lever", "cost", "when",
                "context_weights", "cooldown", "suppress_after_ignores", "budget", "category",
                "messages", "description", "attributes", "cooldown_scope", "response_window",
                "attribution_window", "reward", "items", "coupon", "deep_link"}
_DEFAULT_TRIGGERS = {
    "cart_abandoned": {"on": ["Product Added", "Checkout Started"], "delay": "1h",
                       "cancel_on": ["Order Completed"], "when": "cart_items >= 1"},
    "browse_abandoned": {"on": ["Product Viewed"], "delay": "2h",
                         "cancel_on": ["Product Added", "Checkout Started", "Order Completed"],
                         "when": "cart_items == 0"},
    "post_purchase": {"on": ["Order Completed"], "delay": "2d"},
}
"""Journeys of a catalog that declares no `triggers:` (a shop's three classics)."""


def _predicates(cx: Ctx, path: tuple[Any, ...], v: Any, rules: RuleSpace
                ) -> tuple[Predicate, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list):
        raise cx.fail(path, "expected an expression string or a list of them")
    out: list[Predicate] = []
    for i, text in enumerate(items):
        p = (*path, i) if isinstance(v, list) else path
        if not isinstance(text, str):
            raise cx.fail(p, f"expected an expression string, got {text!r}")
        try:
            out += compile_expression(text, rules.index)
        except ValueError as e:
            raise cx.fail(p, str(e)) from e
    return tuple(out)


def _world(cx: Ctx, doc: dict[str, Any], channels: tuple[str, ...], stages: tuple[str, ...]
           ) -> tuple[World, Path | None]:
    path: tuple[Any, ...] = ("world",)
    cx.known_keys(path, doc, {"categories", "category_buckets", "traits", "products", "kinds"})
    cats = doc.get("categories", {}) or {}
    if isinstance(cats, list):
        cats = {c: {} for c in cx.names((*path, "categories"), cats)}
    cats = cx.mapping((*path, "categories"), cats)
    decl: dict[str, dict[str, Any]] = {}
    for cid, spec in cats.items():
        if not isinstance(cid, str) or not _NAME.fullmatch(cid):
            raise cx.fail((*path, "categories", cid),
                          f"category id must be snake_case [a-z0-9_], got {cid!r}")
        spec = cx.mapping((*path, "categories", cid), spec or {})
        cx.known_keys((*path, "categories", cid), spec, {"label", "aliases"})
        # one alias may be written without brackets: the validated tuple, never its letters
        decl[cid] = {**spec, "aliases": cx.names((*path, "categories", cid, "aliases"),
                                                 spec.get("aliases", []), empty=True)}
    traits: list[Trait] = []
    for i, t in enumerate(doc.get("traits", []) or []):
        tp = (*path, "traits", i)
        t = cx.mapping(tp, t)
        cx.known_keys(tp, t, {"name", "from", "type", "values", "event"})
        name, src, kind = t.get("name"), t.get("from"), t.get("type", "numeric")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise cx.fail((*tp, "name"), f"trait name must be snake_case, got {name!r}")
        if not isinstance(src, str) or "." not in src or src.split(".")[0] not in TRAIT_SOURCES:
            raise cx.fail((*tp, "from"), f"expected 'traits.X', 'properties.X' or "
                                         f"'context.X', got {src!r}")
        if kind not in TRAIT_TYPES:
            raise cx.fail((*tp, "type"), f"type must be one of {TRAIT_TYPES}, got {kind!r}")
        values = cx.names((*tp, "values"), t.get("values", []), empty=True)
        if kind in ("categorical", "ordinal") and not values:
            raise cx.fail((*tp, "values"), f"a trait of type {kind} needs its values listed")
        source, key = src.split(".", 1)
        traits.append(Trait(name, source, key, kind, values, t.get("event")))
    names = [t.name for t in traits]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise cx.fail((*path, "traits"), f"duplicate trait {dup!r}")
    kinds = cx.names((*path, "kinds"), doc.get("kinds", ["offer", "content", "message",
                                                          "service"]))
    try:
        world = World.declare(decl, buckets=int(cx.number((*path, "category_buckets"),
                                                          doc.get("category_buckets", 16))),
                              channels=channels, kinds=kinds, traits=traits, stages=stages)
    except ValueError as e:
        raise cx.fail((*path, "categories"), str(e)) from e
    products = doc.get("products")
    if products is not None and not isinstance(products, str):
        raise cx.fail((*path, "products"), "expected a file path (.jsonl or .csv)")
    return world, Path(products) if products else None


def _lifecycle(cx: Ctx, doc: Any) -> Lifecycle:
    if doc is None:
        return RetailLifecycle()
    path: tuple[Any, ...] = ("lifecycle",)
    doc = cx.mapping(path, doc)
    cx.known_keys(path, doc, {"stages", "initial", "transitions", "on_inactivity"})
    stages = cx.names((*path, "stages"), doc.get("stages"))
    for s in stages:
        if not _NAME.fullmatch(s):
            raise cx.fail((*path, "stages"), f"stage names are snake_case, got {s!r}")
    index = {s: i for i, s in enumerate(stages)}
    initial = cx.names((*path, "initial"), doc.get("initial", stages[0]), index)[0]
    transitions = []
    for i, t in enumerate(doc.get("transitions", []) or []):
        tp = (*path, "transitions", i)
        t = cx.mapping(tp, t)
        cx.known_keys(tp, t, {"on", "from", "to", "after"})
        to = cx.names((*tp, "to"), t.get("to"), index)[0]
        on = cx.names((*tp, "on"), t.get("on", []), empty=True)
        frm = t.get("from")
        after = cx.duration((*tp, "after"), t["after"]) if "after" in t else None
        if not on and after is None:
            raise cx.fail(tp, "a transition needs `on` (events) or `after` (time in stage)")
        transitions.append(Transition(
            to=index[to], on=frozenset(on),
            from_=None if frm is None else frozenset(index[s] for s in
                                                     cx.names((*tp, "from"), frm, index)),
            after=after))
    inactive = doc.get("on_inactivity")
    return DeclaredLifecycle(
        stages, transitions, initial=index[initial],
        on_inactivity=None if inactive is None
        else index[cx.names((*path, "on_inactivity"), inactive, index)[0]])


def _channel(cx: Ctx, name: str, obj: Any, respond: float | None) -> ChannelPolicy:
    path = ("channels", name)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise cx.fail(path, f"channel names are snake_case [a-z0-9_], got {name!r}")
    o = cx.mapping(path, obj)
    cx.known_keys(path, o, {"cost", "opt_in", "outbound", "quiet_hours", "cap",
                            "response_window", "format"})
    cap = cx.mapping((*path, "cap"), o.get("cap", {"count": 1000, "window": "1d"}))
    fmt = o.get("format", "text")
    if fmt not in ("text", "html"):
        raise cx.fail((*path, "format"), f"format is 'text' or 'html', got {fmt!r}")
    return ChannelPolicy(
        name=name,
        cost=cx.number((*path, "cost"), o.get("cost", 0.0)),
        opt_in=cx.flag((*path, "opt_in"), o.get("opt_in", False)),
        outbound=cx.flag((*path, "outbound"), o.get("outbound", False)),
        quiet_hours=cx.flag((*path, "quiet_hours"), o.get("quiet_hours", False)),
        cap_count=int(cx.number((*path, "cap", "count"), cap.get("count", 1000))),
        cap_window=cx.duration((*path, "cap", "window"), cap.get("window", "1d")),
        response_window=cx.duration((*path, "response_window"), o.get(
            "response_window", respond if respond is not None
            else OUTBOUND_WINDOW if o.get("outbound", False) else INBOUND_WINDOW)),
        html=fmt == "html",
    )


def _outcomes(cx: Ctx, path: tuple[Any, ...], doc: Any, default: Outcomes | None) -> Outcomes:
    doc = cx.mapping(path, doc)
    cx.known_keys(path, doc, {"respond", "convert"})
    respond = (frozenset(cx.names((*path, "respond"), doc["respond"])) if "respond" in doc
               else default.respond if default else frozenset({"Promotion Clicked"}))
    if "convert" in doc:
        convert: dict[str, str | float] = {}
        for ev, v in cx.mapping((*path, "convert"), doc["convert"] or {}).items():
            if isinstance(v, str) and v:
                convert[ev] = v
            else:
                convert[ev] = cx.number((*path, "convert", ev), v)
    else:
        convert = dict(default.convert) if default else {"Order Completed": "revenue"}
    return Outcomes(respond, convert)


def _trigger(cx: Ctx, name: str, doc: Any, rules: RuleSpace) -> Trigger:
    path = ("triggers", name)
    if not _NAME.fullmatch(name) or name in BUILTIN_TRIGGERS:
        raise cx.fail(path, f"trigger names are snake_case and not one of {BUILTIN_TRIGGERS}")
    o = cx.mapping(path, doc)
    cx.known_keys(path, o, {"on", "delay", "cancel_on", "when", "send_window"})
    window = None
    if "send_window" in o:
        w = cx.mapping((*path, "send_window"), o["send_window"])
        cx.known_keys((*path, "send_window"), w, {"start", "end"})
        window = (cx.number((*path, "send_window", "start"), w.get("start"), hi=24),
                  cx.number((*path, "send_window", "end"), w.get("end"), hi=24))
    return Trigger(
        name=name,
        on=frozenset(cx.names((*path, "on"), o.get("on"))),
        delay=cx.duration((*path, "delay"), o.get("delay", 0)),
        cancel_on=frozenset(cx.names((*path, "cancel_on"), o.get("cancel_on", []), empty=True)),
        when=_predicates(cx, (*path, "when"), o.get("when", []), rules),
        send_window=window,
    )


def _messages(cx: Ctx, path: tuple[Any, ...], doc: Any, chans: tuple[str, ...],
              channels: dict[str, ChannelPolicy]) -> dict[str, Message]:
    """Compile each channel's Liquid templates (errors at the catalog's own line)."""
    messages = cx.mapping(path, doc)
    out = {}
    for ch in chans:
        m = messages.get(ch)
        if m is None or m == "":
            raise cx.fail(path, f"missing message template for channel {ch!r}")
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*path, ch))
        line: int | dict[str, int] = cx.line((*path, ch))
        if isinstance(m, dict):
            line = {k: cx.line((*path, ch, k)) for k in ("subject", "body")}
        out[ch] = compile_message(m, where=cx.source, line=line, field=where.lstrip("."),
                                  html=channels[ch].html)
    return out


def _action(cx: Ctx, i: int, obj: Any, defaults: dict[str, Any], cat: dict[str, Any]) -> Action:
    path: tuple[Any, ...] = ("actions", i)
    o = cx.mapping(path, obj)
    cx.known_keys(path, o, _ACTION_KEYS)
    world: World = cat["world"]
    rules: RuleSpace = cat["rules"]
    channels: dict[str, ChannelPolicy] = cat["channels"]
    aid = o.get("id")
    if not isinstance(aid, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", aid):
        raise cx.fail((*path, "id"), f"id must be snake_case [a-z0-9_], got {aid!r}")
    kind = o.get("kind", world.kinds[0])
    if kind not in world.kinds:
        raise cx.fail((*path, "kind"), f"kind must be one of {world.kinds}, got {kind!r}")
    chans = cx.names((*path, "channels"), o.get("channels"), channels)
    stage_names = cat["lifecycle"].stages
    stages = cx.names((*path, "stages"), o.get("stages", list(stage_names)), stage_names)
    triggers = cx.names((*path, "triggers"), o.get("triggers", ["request"]), cat["triggers"])
    cost = {}
    for ch, c in cx.mapping((*path, "cost"), o.get("cost", {})).items():
        if ch not in chans:
            raise cx.fail((*path, "cost", ch), f"cost for channel {ch!r} not in {chans}")
        cost[ch] = cx.number((*path, "cost", ch), c)
    weights = []
    for j, w in enumerate(o.get("context_weights", []) or []):
        wp = (*path, "context_weights", j)
        wm = cx.mapping(wp, w)
        cx.known_keys(wp, wm, {"when", "weight"})
        weights.append((_predicates(cx, (*wp, "when"), wm.get("when"), rules),
                        cx.number((*wp, "weight"), wm.get("weight"))))
    category = o.get("category")
    cindex = -1
    if category is not None:
        if not isinstance(category, str):
            raise cx.fail((*path, "category"), "category must be a string")
        cindex = world.category_of(category, count=False)
        if cindex >= len(world.categories) and world.categories:
            raise cx.fail((*path, "category"), f"{category!r} is not a declared category "
                                               f"(or alias); declare it under world.categories")
    attrs: dict[str, str | float] = {}
    for k, v in cx.mapping((*path, "attributes"), o.get("attributes", {}) or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise cx.fail((*path, "attributes", k), "attribute values are numbers or strings")
        attrs[str(k)] = float(v) if isinstance(v, int | float) else v
    if "discount" in attrs:
        cx.number((*path, "attributes", "discount"), attrs["discount"], hi=1.0)
    scope = o.get("cooldown_scope", "action")
    if scope not in ("action", "channel"):
        raise cx.fail((*path, "cooldown_scope"), f"'action' or 'channel', got {scope!r}")
    rw = o.get("response_window")
    if isinstance(rw, dict):
        for ch in rw:
            if ch not in chans:
                raise cx.fail((*path, "response_window", ch), f"not a channel of {aid!r}")
        windows = {ch: cx.duration((*path, "response_window", ch), v) for ch, v in rw.items()}
    elif rw is not None:
        windows = dict.fromkeys(chans, cx.duration((*path, "response_window"), rw))
    else:
        windows = {}
    items = None
    if "items" in o:
        spec = cx.mapping((*path, "items"), o["items"])
        cx.known_keys((*path, "items"), spec, {"source", "limit", "min"})
        src = cx.names((*path, "items", "source"), spec.get("source"), ITEM_SOURCES)[0]
        items = ItemSpec(src, int(cx.number((*path, "items", "limit"), spec.get("limit", 3),
                                            lo=1)),
                         int(cx.number((*path, "items", "min"), spec.get("min", 0))))
    for key in ("coupon", "deep_link"):
        if key in o and not isinstance(o[key], str):
            raise cx.fail((*path, key), "expected a string")
    when_text = o.get("when", [])
    return Action(
        id=aid,
        kind=kind,
        channels=chans,
        stages=frozenset(stage_names.index(s) for s in stages),
        triggers=frozenset(triggers),
        value=cx.number((*path, "value"), o.get("value", 1.0)),
        lever=cx.number((*path, "lever"), o.get("lever", 1.0)),
        cost=cost,
        when=_predicates(cx, (*path, "when"), when_text, rules),
        when_text=tuple([when_text] if isinstance(when_text, str) else when_text),
        context_weights=tuple(weights),
        cooldown=cx.duration((*path, "cooldown"), o.get("cooldown", defaults["cooldown"])),
        suppress_after=int(cx.number((*path, "suppress_after_ignores"),
                                     o.get("suppress_after_ignores",
                                           defaults["suppress_after_ignores"]))),
        budget=int(cx.number((*path, "budget"), o.get("budget", 2**31 - 1))),
        category=world.category_id(cindex) if cindex >= 0 else None,
        messages=_messages(cx, (*path, "messages"), o.get("messages"), chans, channels),
        category_index=cindex,
        attributes=attrs,
        cooldown_scope=scope,
        response_window=windows,
        attribution_window=(cx.duration((*path, "attribution_window"), o["attribution_window"])
                            if "attribution_window" in o else 0.0),
        outcomes=(_outcomes(cx, (*path, "reward"), o["reward"], cat["outcomes"])
                  if "reward" in o else None),
        items=items,
        coupon=o.get("coupon"),
        deep_link=(compile_template(o["deep_link"], where=cx.source,
                                    line=cx.line((*path, "deep_link")),
                                    field=f"actions[{i}].deep_link") if "deep_link" in o
                   else None),
    )


def parse(text: str, source: str = "<catalog>", *, base: Path | None = None) -> Catalog:
    """Validate a catalog document (see `engine.catalog.parse_catalog`)."""
    doc, cx = load_yaml(text, source)
    root = cx.mapping((), doc)
    cx.known_keys((), root, _ROOT_KEYS)
    d = cx.mapping(("defaults",), root.get("defaults", {}))
    cx.known_keys(("defaults",), d, {"cooldown", "suppress_after_ignores", "attribution_window",
                                     "response_window"})
    defaults = {"cooldown": d.get("cooldown", "1d"),
                "suppress_after_ignores": d.get("suppress_after_ignores", 0)}
    respond = (cx.duration(("defaults", "response_window"), d["response_window"])
               if "response_window" in d else None)
    attribute = cx.duration(("defaults", "attribution_window"), d.get("attribution_window", "3d"))
    if respond is not None and respond > attribute:
        raise cx.fail(("defaults", "response_window"), "must not exceed attribution_window")
    chan_doc = cx.mapping(("channels",), root.get("channels"))
    if not chan_doc:
        raise cx.fail(("channels",), "declare at least one channel")
    channels = {n: _channel(cx, n, chan_doc[n], respond) for n in chan_doc}
    for ch in channels.values():
        if ch.response_window > attribute:
            raise cx.fail(("channels", ch.name, "response_window"),
                          "must not exceed defaults.attribution_window")
    lifecycle = _lifecycle(cx, root.get("lifecycle"))
    world, products = _world(cx, cx.mapping(("world",), root.get("world", {}) or {}),
                             tuple(channels), lifecycle.stages)
    rules = RuleSpace(Layout.of(world))
    trig_doc = root.get("triggers")
    trig_doc = _DEFAULT_TRIGGERS if trig_doc is None else cx.mapping(("triggers",), trig_doc)
    triggers = {n: _trigger(cx, n, t, rules) for n, t in trig_doc.items()}
    outcomes = _outcomes(cx, ("outcomes",), root.get("outcomes", {}) or {}, None)
    policy = cx.mapping(("contact_policy",), root.get("contact_policy", {}))
    cx.known_keys(("contact_policy",), policy, {"total_cap", "quiet_hours"})
    total = cx.mapping(("contact_policy", "total_cap"), policy.get("total_cap", {}))
    quiet = cx.mapping(("contact_policy", "quiet_hours"), policy.get("quiet_hours", {}))
    placements = {}
    for name, chans in cx.mapping(("placements",), root.get("placements", {})).items():
        placements[name] = cx.names(("placements", name), chans, channels)
    try:
        learning = LearningConfig.from_mapping(
            cx.mapping(("learning",), root.get("learning", {}) or {}))
    except (KeyError, TypeError) as e:
        raise cx.fail(("learning",), f"unknown learner setting {e}; see README "
                                     "'Learning'") from e
    except ValueError as e:
        raise cx.fail(("learning",), f"{e}; see README 'Learning'") from e
    acts = root.get("actions")
    if not isinstance(acts, list) or not acts:
        raise cx.fail(("actions",), "expected a non-empty list of actions")
    ctx = {"world": world, "rules": rules, "channels": channels, "lifecycle": lifecycle,
           "triggers": (*BUILTIN_TRIGGERS, *triggers), "outcomes": outcomes}
    actions = [_action(cx, i, a, defaults, ctx) for i, a in enumerate(acts)]
    seen: set[str] = set()
    for i, a in enumerate(actions):
        if a.id in seen:
            raise cx.fail(("actions", i, "id"), f"duplicate action id {a.id!r}")
        seen.add(a.id)
    catalog_products: ProductCatalog | None = None
    if products is not None:
        path = (base / products) if base is not None else products
        catalog_products = load_products(
            path, lambda s: world.category_id(world.category_of(s, count=False)) or "")
    for i, a in enumerate(actions):
        if a.items is not None and catalog_products is None:
            raise cx.fail(("actions", i, "items"), "items need a product file: set "
                                                  "world.products")
    try:
        return Catalog(
            version=str(root.get("version", "1")),
            actions=actions,
            channels=channels,
            placements=placements,
            total_cap=(int(cx.number(("contact_policy", "total_cap", "count"),
                                     total.get("count", 1000))),
                       cx.duration(("contact_policy", "total_cap", "window"),
                                   total.get("window", "1d"))),
            quiet_start=cx.number(("contact_policy", "quiet_hours", "start"),
                                  quiet.get("start", 21), hi=24),
            quiet_end=cx.number(("contact_policy", "quiet_hours", "end"), quiet.get("end", 8),
                                hi=24),
            attribution_window=attribute,
            response_window=respond if respond is not None else INBOUND_WINDOW,
            world=world,
            lifecycle=lifecycle,
            triggers=triggers,
            outcomes=outcomes,
            learning=learning,
            products=catalog_products,
            source=source,
        )
    except ValueError as e:
        raise CatalogError(str(e)) from e
