"""The Journey catalog (schema v2, `/work/spec/world-spec.md`) a world is run under.

What a marketer of that business would write: the declared categories with the strings the
site uses as aliases, the channels with their costs, windows and caps, the traits worth
learning from, the triggers and outcomes, and the actions with their category, attributes
and a value prior (the basket value of the offer, not the hidden conversion rate). The
hidden response model stays in the world.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.worlds.config import ActionSpec, WorldConfig

__all__ = ["attribution_window", "catalog_document", "products", "write_catalog"]

_HOUR = 3600.0


def _hours(seconds: float) -> str:
    """A catalog duration, rounded up to whole hours (minutes below an hour)."""
    if seconds < _HOUR:
        return f"{max(math.ceil(seconds / 60.0), 1)}m"
    return f"{math.ceil(seconds / _HOUR)}h"


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def products(cfg: WorldConfig) -> dict[str, list[tuple[str, float]]]:
    """Product ids and prices per category (fixed per world, whatever the seed)."""
    rng = random.Random(f"{cfg.name}/products")
    out: dict[str, list[tuple[str, float]]] = {}
    for cid, c in cfg.categories.items():
        lo, hi = c.price
        out[cid] = [(f"{cid}-{k:02d}", round(rng.uniform(lo, hi), 2))
                    for k in range(max(c.items, 1))]
    return out


def attribution_window(cfg: WorldConfig) -> float:
    """Seconds from a decision to its latest possible conversion (slowest channel response
    plus the slowest conversion), with 10% headroom."""
    worst = 0.0
    for a in cfg.actions:
        respond = max(cfg.channels[ch].delay[1] for ch in a.channels)
        convert = a.conversion.delay[1] if a.conversion is not None else 0.0
        worst = max(worst, respond + convert)
    return worst * 1.1


def _message(cfg: WorldConfig, a: ActionSpec, channel: str) -> str:
    label = cfg.categories[a.category].label
    pct = f"{round(a.discount * 100)}% off" if a.discount else "New in"
    text = a.attributes.get("headline", f"{pct} {label}")
    if channel == "email":
        return f"{{{{ customer.first_name | default: 'Hi' }}}}, {text} for you."
    return f"{text}."


def _action(cfg: WorldConfig, a: ActionSpec) -> dict[str, Any]:
    attrs = {"discount": a.discount, "price_band": a.price_band,
             **{k: v for k, v in a.attributes.items() if k != "headline"}}
    out: dict[str, Any] = {
        "id": a.id, "kind": a.kind, "channels": list(a.channels), "triggers": list(a.triggers),
        "category": a.category, "attributes": attrs, "value": round(a.value, 2)}
    if a.cooldown not in ("0", "0s"):
        out["cooldown"] = a.cooldown
    if a.conversion is None:
        out["reward"] = {"respond": ["Promotion Clicked"], "convert": {}}
    else:
        out["reward"] = {"respond": ["Promotion Clicked"],
                         "convert": {a.conversion.event: "revenue"}}
    out["messages"] = {ch: _message(cfg, a, ch) for ch in a.channels}
    return out


def _traits(cfg: WorldConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in cfg.traits:
        row: dict[str, Any] = {"name": t.name, "from": f"traits.{t.name}", "type": t.type}
        if t.type == "categorical":
            row["values"] = list(t.values)
        out.append(row)
    for ev in cfg.events:
        for prop in ev.properties:
            out.append({"name": f"{_snake(ev.event)}_{prop}", "from": f"properties.{prop}",
                        "event": ev.event, "type": "numeric"})
    if cfg.support is not None:
        out.append({"name": "survey_score", "from": "properties.score",
                    "event": "Survey Answered", "type": "numeric"})
    return out


def catalog_document(cfg: WorldConfig) -> dict[str, Any]:
    """The catalog as a mapping, in the order the v2 schema documents its sections."""
    extra = cfg.catalog
    inbound = [n for n, c in cfg.channels.items() if not c.outbound]
    respond = min(c.window for c in cfg.channels.values())
    defaults = {"cooldown": "0s", "response_window": _hours(respond),
                "attribution_window": _hours(attribution_window(cfg)),
                "suppress_after_ignores": 0, **extra.get("defaults", {})}
    world: dict[str, Any] = {
        "categories": {cid: {"label": c.label,
                             "aliases": list(dict.fromkeys([*c.aliases, *c.paths]))}
                       for cid, c in cfg.categories.items()},
        "category_buckets": 16,
        "traits": _traits(cfg),
        "products": "products.jsonl",
        "kinds": sorted({a.kind for a in cfg.actions}),
    }
    channels = {n: {"cost": c.cost, "opt_in": c.opt_in, "outbound": c.outbound,
                    "quiet_hours": c.quiet_hours,
                    "cap": {"count": c.cap[0], "window": c.cap[1]},
                    "response_window": _hours(c.window)}
                for n, c in cfg.channels.items()}
    convert = {a.conversion.event: "revenue" for a in cfg.actions if a.conversion is not None}
    doc: dict[str, Any] = {
        "version": str(extra.get("version", f"{cfg.name}-1")),
        "defaults": defaults,
        "world": world,
        "channels": channels,
        "contact_policy": extra.get("contact_policy",
                                    {"total_cap": {"count": 1000, "window": "1d"}}),
        "placements": extra.get("placements", {cfg.placement: inbound}),
        "triggers": extra.get("triggers", {}),
        "outcomes": {"respond": ["Promotion Clicked"], "convert": convert},
    }
    if "lifecycle" in extra:
        doc["lifecycle"] = extra["lifecycle"]
    doc["actions"] = [_action(cfg, a) for a in cfg.actions]
    return doc


def write_catalog(cfg: WorldConfig, folder: Path) -> Path:
    """`catalog.yaml` and the `products.jsonl` it names, in `folder`; the catalog's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for cid, items in products(cfg).items():
        cat = cfg.categories[cid]
        for k, (pid, price) in enumerate(items):
            rows.append(orjson.dumps({"id": pid, "name": f"{cat.label} {k + 1}",
                                      "category": cat.paths[k % len(cat.paths)],
                                      "price": price,
                                      "url": f"https://{cfg.name}.example/p/{pid}"}))
    (folder / "products.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    path = folder / "catalog.yaml"
    header = f"# Journey catalog v2 written by bench/worlds for world {cfg.name!r}\n"
    path.write_text(header + yaml.safe_dump(catalog_document(cfg), sort_keys=False,
                                            default_flow_style=None, allow_unicode=True,
                                            width=100))
    return path
