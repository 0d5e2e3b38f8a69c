"""Render a channel's message template with the few customer fields it names."""

from __future__ import annotations

import re

import numpy as np

from engine.catalog import Action
from features.state import AFFINITY0, CATEGORIES, CustomerState, Slot

__all__ = ["render"]

_FIELD = re.compile(r"\{([a-z_]+)\}")


def _top_category(state: CustomerState) -> str:
    aff = state.row[AFFINITY0 : AFFINITY0 + len(CATEGORIES)]
    if aff.max() <= 0:
        return "new"
    return CATEGORIES[int(np.argmax(aff))]


def render(action: Action, channel: str, state: CustomerState) -> str:
    """Fill `{field}` placeholders; only fields the template names are read."""
    r = state.row

    def value(name: str) -> str:
        if name == "first_name":
            return state.first_name or "there"
        if name == "cart_value":
            return f"{r[Slot.CART_VALUE]:.2f}"
        if name == "cart_items":
            return str(int(r[Slot.CART_ITEMS]))
        if name == "orders":
            return str(int(r[Slot.ORDERS]))
        if name == "category":
            return action.category or _top_category(state)
        if name == "region":
            return state.region or "your area"
        if name == "stage":
            return state.stage.label
        return "{" + name + "}"

    return _FIELD.sub(lambda m: value(m.group(1)), action.messages[channel])
