"""The template scope of a decision: the customer, the action, its items and the context.

`scope` builds what a message template may read; the catalog compiles each channel's
templates once (`engine.templates`) and renders them with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.catalog import Action, Catalog
from features.state import CustomerState, Slot

__all__ = ["scope", "top_category"]


def top_category(catalog: Catalog, state: CustomerState) -> int:
    """The customer's strongest declared category (-1 when none): a declared category wins
    over hash buckets, which have no label to show."""
    lay = catalog.layout
    n = len(catalog.world.categories)
    aff = state.row[lay.affinity : lay.affinity + n]
    if n == 0 or aff.max() <= 0:
        return -1
    return int(np.argmax(aff))


def scope(catalog: Catalog, action: Action, channel: str, state: CustomerState,
          items: list[dict[str, Any]], signals: dict[str, float]) -> dict[str, Any]:
    """Everything a template may read (README "Messages")."""
    world = catalog.world
    r = state.row
    top = top_category(catalog, state)
    cat_index = action.category_index if action.category_index >= 0 else top
    category = ({"id": world.category_id(cat_index), "label": world.category_label(cat_index)}
                if cat_index >= 0 else {"id": None, "label": None})
    traits = {t.name: t.label(float(r[catalog.layout.traits + i]))
              for i, t in enumerate(world.traits) if r[catalog.layout.traits + i] != 0.0}
    customer = {
        "first_name": state.first_name,
        "region": state.region,
        "stage": catalog.lifecycle.label(state.stage),
        "orders": int(r[Slot.ORDERS]),
        "cart_value": round(float(r[Slot.CART_VALUE]), 2),
        "cart_items": int(r[Slot.CART_ITEMS]),
        "traits": traits,
        "top_category": ({"id": world.category_id(top), "label": world.category_label(top)}
                         if top >= 0 else None),
    }
    return {
        "customer": customer,
        "category": category,
        "items": items,
        "action": {"id": action.id, "kind": action.kind, "attributes": dict(action.attributes),
                   "discount": action.discount},
        "coupon": action.coupon,
        "channel": channel,
        "context": dict(signals),
    }


def render_legacy(text: str, sc: dict[str, Any]) -> str:
    """`{field}` substitution over a scope (until the catalog compiles Liquid templates)."""
    import re

    c = sc["customer"]
    fields = {"first_name": c["first_name"] or "there", "cart_value": f"{c['cart_value']:.2f}",
              "cart_items": str(c["cart_items"]), "orders": str(c["orders"]),
              "category": sc["category"]["label"] or "new",
              "region": c["region"] or "your area", "stage": c["stage"]}
    return re.sub(r"\{([a-z_]+)\}", lambda m: fields.get(m.group(1), m.group(0)), text)
