"""The template scope of a decision: the customer, the action, its items and the context.

`scope` builds what a message template may read (README "Messages"); the catalog compiled
each channel's Liquid templates once (`engine.templates`) and the core renders them with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.catalog import Action, Catalog
from engine.products import Item
from engine.templates import message_scope
from features.state import CustomerState, Slot

__all__ = ["scope", "top_categories"]


def top_categories(catalog: Catalog, state: CustomerState, k: int = 1) -> list[int]:
    """The customer's `k` strongest declared categories, strongest first (declared ones
    only: hash buckets have no label to show or products to offer)."""
    lay = catalog.layout
    n = len(catalog.world.categories)
    aff = state.row[lay.affinity : lay.affinity + n]
    order = np.argsort(-aff, kind="stable")[:k]
    return [int(i) for i in order if aff[i] > 0]


def _category(catalog: Catalog, index: int) -> dict[str, Any] | None:
    if index < 0:
        return None
    world = catalog.world
    return {"id": world.category_id(index), "label": world.category_label(index)}


def scope(catalog: Catalog, action: Action, channel: str, state: CustomerState,
          items: list[Item], signals: dict[str, float]) -> dict[str, Any]:
    """Everything a template may read, as plain data."""
    world, lay = catalog.world, catalog.layout
    r = state.row
    top = top_categories(catalog, state)
    top_index = top[0] if top else -1
    traits = {t.name: t.label(float(r[lay.traits + i]))
              for i, t in enumerate(world.traits) if r[lay.traits + i] != 0.0}
    customer = {
        "first_name": state.first_name,
        "region": state.region,
        "stage": catalog.lifecycle.label(state.stage),
        "orders": int(r[Slot.ORDERS]),
        "cart_value": round(float(r[Slot.CART_VALUE]), 2),
        "cart_items": int(r[Slot.CART_ITEMS]),
        "traits": traits,
        "top_category": _category(catalog, top_index),
    }
    index = action.category_index if action.category_index >= 0 else top_index
    return message_scope(
        customer=customer, category=_category(catalog, index), items=items,
        action={"id": action.id, "kind": action.kind, "attributes": dict(action.attributes),
                "discount": action.discount},
        coupon=action.coupon, channel=channel, context=signals)
