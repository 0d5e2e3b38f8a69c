"""World configs: a YAML file declaring a simulated business, validated into frozen dataclasses.

A world declares its taxonomy (categories with the strings customers browse under, and
optionally product items), channels (cost, consent, response delays, fatigue), actions
(category, channels, kind, discount, price band, true conversion behaviour, the value prior
the catalog states) and how customers behave (hidden tastes, channel preferences, discount
sensitivity, active hours, fatigue, drift, visits, support and churn). `bench/worlds/*.yaml`
are the shipped worlds; README-style comments in them document every field.

Latent names (what traits and domain events are drawn from): `taste:<category>`,
`channel:<channel>`, `discount`, `risk`, `hour`, `activity`.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench.worlds.specs import (
    ActionSpec,
    Behaviour,
    CategorySpec,
    ChannelSpec,
    ChurnSpec,
    ConversionSpec,
    DomainEvent,
    SupportSpec,
    TraitSpec,
    WorldConfig,
    WorldError,
)

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
    "load_config",
    "parse_config",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def parse_duration(v: Any, where: str) -> float:
    """Seconds from '30s', '15m', '2h', '3d', '1w' or a number of seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
        return float(v)
    if isinstance(v, str) and (m := _DURATION.match(v)):
        return float(m.group(1)) * _UNITS[m.group(2)]
    msg = f"{where}: expected a duration like '30m', '2d' or seconds, got {v!r}"
    raise WorldError(msg)


def _span(v: Any, where: str) -> tuple[float, float]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        msg = f"{where}: expected [low, high] durations, got {v!r}"
        raise WorldError(msg)
    lo, hi = parse_duration(v[0], f"{where}[0]"), parse_duration(v[1], f"{where}[1]")
    if hi < lo:
        msg = f"{where}: high {v[1]!r} is below low {v[0]!r}; swap them"
        raise WorldError(msg)
    return lo, hi


def _num(o: dict[str, Any], key: str, default: float, where: str) -> float:
    v = o.get(key, default)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    msg = f"{where}.{key}: expected a number, got {v!r}"
    raise WorldError(msg)


def _map(v: Any, where: str) -> dict[str, Any]:
    if v is None:
        return {}
    if isinstance(v, dict):
        return v
    msg = f"{where}: expected a mapping, got {type(v).__name__}"
    raise WorldError(msg)


def _ident(v: Any, where: str) -> str:
    if isinstance(v, str) and _ID.match(v):
        return v
    msg = f"{where}: expected a snake_case id [a-z][a-z0-9_]*, got {v!r}"
    raise WorldError(msg)


def _category(cid: str, o: Any) -> CategorySpec:
    where = f"taxonomy.categories.{cid}"
    o = _map(o, where)
    label = str(o.get("label", cid.replace("_", " ").title()))
    aliases = tuple(str(a) for a in o.get("aliases", []))
    paths = tuple(str(p) for p in o.get("paths", [])) or (label,)
    price = o.get("price", [20, 60])
    if not isinstance(price, list) or len(price) != 2 or not 0 < price[0] <= price[1]:
        msg = f"{where}.price: expected [low, high] with 0 < low <= high, got {price!r}"
        raise WorldError(msg)
    return CategorySpec(cid, label, aliases, paths, (float(price[0]), float(price[1])),
                        int(_num(o, "items", 8, where)))


def _channel(name: str, o: Any) -> ChannelSpec:
    where = f"channels.{name}"
    o = _map(o, where)
    cap = _map(o.get("cap", {"count": 1000, "window": "1d"}), f"{where}.cap")
    delay = _span(o.get("delay", ["10s", "10m"]), f"{where}.delay")
    window = parse_duration(o.get("window", "2h"), f"{where}.window")
    if window < delay[1]:
        msg = (f"{where}.window: {o.get('window')!r} is shorter than the slowest response "
               f"({delay[1]:.0f} s); responses would arrive after the label closes")
        raise WorldError(msg)
    return ChannelSpec(
        name=_ident(name, where), cost=_num(o, "cost", 0.0, where),
        opt_in=bool(o.get("opt_in", False)), outbound=bool(o.get("outbound", False)),
        quiet_hours=bool(o.get("quiet_hours", False)),
        cap=(int(cap.get("count", 1000)), str(cap.get("window", "1d"))),
        consent=_num(o, "consent", 1.0, where), delay=delay, window=window,
        fatigue=_num(o, "fatigue", 1.0, where), hours=_num(o, "hours", 0.0, where),
        pref=_num(o, "pref", 0.0, where))


def _conversion(o: Any, where: str) -> ConversionSpec | None:
    if o is None:
        return None
    o = _map(o, where)
    value = o.get("value", "price")
    if value == "price":
        lo_hi, price = (0.0, 0.0), True
    elif isinstance(value, list) and len(value) == 2 and 0 <= value[0] <= value[1]:
        lo_hi, price = (float(value[0]), float(value[1])), False
    else:
        msg = f"{where}.value: expected 'price' or [low, high] revenue, got {value!r}"
        raise WorldError(msg)
    return ConversionSpec(str(o.get("event", "Order Completed")), _num(o, "p", 0.5, where),
                          lo_hi, price, _span(o.get("delay", ["1h", "1d"]), f"{where}.delay"))


def _action(o: dict[str, Any], where: str, cats: dict[str, CategorySpec],
            chans: dict[str, ChannelSpec]) -> ActionSpec:
    cat = o.get("category")
    if cat not in cats:
        msg = f"{where}.category: {cat!r} is not a declared category; one of {sorted(cats)}"
        raise WorldError(msg)
    channels = tuple(o.get("channels", []))
    bad = [c for c in channels if c not in chans]
    if not channels or bad:
        msg = f"{where}.channels: expected channels from {sorted(chans)}, got {list(channels)}"
        raise WorldError(msg)
    known = {"id", "kind", "category", "channels", "triggers", "discount", "price_band", "base",
             "taste", "risk", "value", "conversion", "effects", "cooldown", "attributes"}
    extra = set(o) - known
    if extra:
        msg = f"{where}: unknown fields {sorted(extra)}; expected some of {sorted(known)}"
        raise WorldError(msg)
    discount = _num(o, "discount", 0.0, where)
    if not 0.0 <= discount < 1.0:
        msg = f"{where}.discount: expected a fraction in [0, 1), got {discount!r}"
        raise WorldError(msg)
    return ActionSpec(
        id=_ident(o.get("id"), f"{where}.id"), kind=str(o.get("kind", "offer")), category=cat,
        channels=channels, triggers=tuple(o.get("triggers", ["request"])), discount=discount,
        price_band=str(o.get("price_band", "mid")), base=_num(o, "base", -3.0, where),
        taste=_num(o, "taste", 1.0, where), risk=_num(o, "risk", 0.0, where),
        value=_num(o, "value", 1.0, where),
        conversion=_conversion(o.get("conversion"), f"{where}.conversion"),
        effects={str(k): float(v) for k, v in _map(o.get("effects"), where).items()},
        cooldown=str(o.get("cooldown", "0s")),
        attributes=dict(_map(o.get("attributes"), f"{where}.attributes")))


def _grid(o: dict[str, Any], cats: dict[str, CategorySpec],
          chans: dict[str, ChannelSpec]) -> list[ActionSpec]:
    """Category × channel offers, discount levels assigned Latin-square style so every
    category and every channel sees every level."""
    g = dict(o)
    categories = g.pop("categories", list(cats))
    channels = g.pop("channels", list(chans))
    levels = g.pop("discounts", [0.0])
    id_format = str(g.pop("id", "{category}_{channel}"))
    out = []
    for i, cat in enumerate(categories):
        for j, ch in enumerate(channels):
            d = float(levels[(i + j) % len(levels)])
            aid = id_format.format(category=cat, channel=ch, discount=round(d * 100))
            spec = {**g, "id": aid, "category": cat, "channels": [ch], "discount": d}
            spec.setdefault("value", round(sum(cats[cat].price) / 2 * (1 - d), 2))
            out.append(_action(spec, f"actions.grid[{aid}]", cats, chans))
    return out


def _behaviour(o: Any) -> Behaviour:
    w = "behaviour"
    o = _map(o, w)
    taste, disc = _map(o.get("taste"), f"{w}.taste"), _map(o.get("discount"), f"{w}.discount")
    hours, fat = _map(o.get("hours"), f"{w}.hours"), _map(o.get("fatigue"), f"{w}.fatigue")
    visits, drift = _map(o.get("visits"), f"{w}.visits"), _map(o.get("drift"), f"{w}.drift")
    return Behaviour(
        taste_sd=_num(taste, "sd", 1.0, f"{w}.taste"),
        favourite=_num(taste, "favourite", 1.0, f"{w}.taste"),
        channel_sd=_num(o, "channel_sd", 0.5, w),
        discount_mean=_num(disc, "mean", 3.0, f"{w}.discount"),
        discount_sd=_num(disc, "sd", 1.5, f"{w}.discount"),
        hour_weight=_num(hours, "weight", 0.5, f"{w}.hours"),
        hour_peaks=tuple(float(h) for h in hours.get("peaks", [9, 13, 20])),
        hour_spread=_num(hours, "spread", 1.5, f"{w}.hours"),
        fatigue_weight=_num(fat, "weight", 0.3, f"{w}.fatigue"),
        fatigue_recovery=parse_duration(fat.get("recovery", "2d"), f"{w}.fatigue.recovery"),
        gap_days=_num(visits, "gap_days", 1.5, f"{w}.visits"),
        gap_sd=_num(visits, "gap_sd", 0.5, f"{w}.visits"),
        views=_num(visits, "views", 2.0, f"{w}.visits"),
        view_focus=_num(visits, "focus", 1.5, f"{w}.visits"),
        drift_at=float(drift["at"]) if "at" in drift else None,
        drift_keep=_num(drift, "keep", 0.3, f"{w}.drift"),
        drift_shift={str(k): float(v) for k, v in _map(drift.get("shift"), w).items()},
        risk_sd=_num(o, "risk_sd", 0.5, w))


def _trait(o: Any, i: int) -> TraitSpec:
    where = f"traits[{i}]"
    o = _map(o, where)
    kind = o.get("type", "numeric")
    if kind not in ("numeric", "boolean", "categorical"):
        msg = f"{where}.type: expected numeric, boolean or categorical, got {kind!r}"
        raise WorldError(msg)
    return TraitSpec(str(o.get("name")), kind, str(o.get("latent")), _num(o, "base", 0, where),
                     _num(o, "scale", 1, where), _num(o, "noise", 0.5, where),
                     _num(o, "threshold", 0, where), tuple(map(str, o.get("values", []))))


def _event(o: Any, i: int) -> DomainEvent:
    where = f"events[{i}]"
    o = _map(o, where)
    props = {}
    for name, p in _map(o.get("properties"), f"{where}.properties").items():
        p = _map(p, f"{where}.properties.{name}")
        props[str(name)] = (str(p.get("latent")), _num(p, "base", 0, where),
                            _num(p, "scale", 1, where), _num(p, "noise", 0.5, where))
    return DomainEvent(str(o.get("event")), _num(o, "base", -2, where), str(o.get("latent")),
                       _num(o, "weight", 1, where), props)


def _check_latent(name: str, where: str, cats: dict[str, Any], chans: dict[str, Any]) -> None:
    kind, _, arg = name.partition(":")
    ok = (kind == "taste" and arg in cats) or (kind == "channel" and arg in chans) or (
        kind in ("discount", "risk", "hour", "activity") and not arg)
    if not ok:
        msg = (f"{where}: unknown latent {name!r}; use taste:<category>, channel:<channel>, "
               f"discount, risk, hour or activity")
        raise WorldError(msg)


def _yaml11_on(v: Any) -> Any:
    """YAML 1.1 reads an unquoted `on:` key as True; give trigger/transition keys back."""
    if isinstance(v, dict):
        return {("on" if k is True else k): _yaml11_on(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_yaml11_on(x) for x in v]
    return v


def parse_config(doc: Any, source: str = "<world>") -> WorldConfig:
    """Validate a world document; raise `WorldError` naming the field and the fix."""
    root = _map(doc, source)
    tax = _map(root.get("taxonomy"), "taxonomy")
    cats = {str(k): _category(str(k), v) for k, v in _map(tax.get("categories"), "t").items()}
    chans = {str(k): _channel(str(k), v) for k, v in _map(root.get("channels"), "c").items()}
    if not cats or not chans:
        msg = f"{source}: a world needs taxonomy.categories and channels"
        raise WorldError(msg)
    acts_doc = root.get("actions")
    actions: list[ActionSpec] = []
    if isinstance(acts_doc, dict) and "grid" in acts_doc:
        actions += _grid(_map(acts_doc["grid"], "actions.grid"), cats, chans)
        acts_doc = acts_doc.get("list", [])
    for i, a in enumerate(acts_doc or []):
        actions.append(_action(_map(a, f"actions[{i}]"), f"actions[{i}]", cats, chans))
    if not actions or len({a.id for a in actions}) != len(actions):
        msg = f"{source}: actions must be a non-empty list with unique ids"
        raise WorldError(msg)
    traits = tuple(_trait(t, i) for i, t in enumerate(root.get("traits", []) or []))
    events = tuple(_event(e, i) for i, e in enumerate(root.get("events", []) or []))
    for i, t in enumerate(traits):
        _check_latent(t.latent, f"traits[{i}].latent", cats, chans)
    for i, e in enumerate(events):
        _check_latent(e.latent, f"events[{i}].latent", cats, chans)
        for name, (lat, *_rest) in e.properties.items():
            _check_latent(lat, f"events[{i}].properties.{name}.latent", cats, chans)
    sup = root.get("support")
    support = None
    if sup is not None:
        s = _map(sup, "support")
        support = SupportSpec(_num(s, "gap_days", 20, "support"), _num(s, "bad", 0.3, "support"),
                              _num(s, "risk_bad", 0.8, "support"),
                              _num(s, "risk_good", -0.2, "support"),
                              _span(s.get("resolve", ["2h", "2d"]), "support.resolve"),
                              tuple(map(str, s.get("topics", ["billing", "network"]))))
    ch = root.get("churn")
    churn = None
    if ch is not None:
        c = _map(ch, "churn")
        churn = ChurnSpec(_num(c, "daily", 0.002, "churn"), _num(c, "risk_weight", 1, "churn"),
                          str(c.get("event", "Subscription Cancelled")))
    start = root.get("start", "2026-03-02T00:00:00Z")
    try:
        start_ts = datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        msg = f"{source}: start: expected an ISO-8601 time, got {start!r}"
        raise WorldError(msg) from e
    return WorldConfig(
        name=_ident(root.get("name"), "name"), description=str(root.get("description", "")),
        start=start_ts, days=_num(root, "days", 30, "days"),
        customers=int(_num(root, "customers", 1000, "customers")),
        timezones=tuple(root.get("timezones", ["Europe/London"])),
        placement=str(root.get("placement", "visit")), categories=cats,
        noise_paths=tuple(map(str, tax.get("noise_paths", []))), channels=chans,
        actions=tuple(actions), behaviour=_behaviour(root.get("behaviour")), traits=traits,
        events=events, support=support, churn=churn,
        catalog=_yaml11_on(_map(root.get("catalog"), "catalog")))


def load_config(path: str | Path) -> WorldConfig:
    """Read and validate a world YAML file."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        msg = f"cannot read world config {str(p)!r}: {e}"
        raise WorldError(msg) from e
    return parse_config(doc, str(p))
