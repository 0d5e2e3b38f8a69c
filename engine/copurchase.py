"""Item-to-item co-purchase counts, learned online from orders in bounded memory.

`ProductCatalog.complements` adds these counts to the declared complements (the prior) and
`ProductCatalog.popular` ranks by the order counts.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CoPurchase"]


class CoPurchase:
    """Co-occurrence counts of items bought in the same order.

    Bounded: each item keeps at most `max_neighbors` partners (Space-Saving: a newcomer
    replaces the smallest count and starts from it + 1, so a count over-estimates by at most
    that minimum); at most `max_items` items are tracked (past that the least-bought tenth is
    dropped); an order counts its first `max_order_items` distinct ids. Deterministic (ties
    go to the smaller id) and picklable (plain dicts).
    """

    def __init__(self, *, max_items: int = 20_000, max_neighbors: int = 32,
                 max_order_items: int = 50) -> None:
        if max_items < 1 or max_neighbors < 1 or max_order_items < 2:
            msg = (f"CoPurchase bounds must be positive (max_order_items >= 2), got "
                   f"{max_items=}, {max_neighbors=}, {max_order_items=}")
            raise ValueError(msg)
        self.max_items = max_items
        self.max_neighbors = max_neighbors
        self.max_order_items = max_order_items
        self._orders: dict[str, int] = {}
        self._pairs: dict[str, dict[str, int]] = {}

    def __len__(self) -> int:
        """Items tracked."""
        return len(self._orders)

    def observe_order(self, item_ids: Iterable[str]) -> None:
        """Count one order's items (duplicates and non-string ids are ignored)."""
        ids: list[str] = []
        for i in item_ids:
            if isinstance(i, str) and i and i not in ids:
                ids.append(i)
                if len(ids) == self.max_order_items:
                    break
        for a in ids:
            self._orders[a] = self._orders.get(a, 0) + 1
            for b in ids:
                if a != b:
                    self._bump(a, b)
        if len(self._orders) > self.max_items:
            self._evict()

    def orders(self, item_id: str) -> int:
        """Orders counted that contained `item_id`."""
        return self._orders.get(item_id, 0)

    def neighbors(self, item_id: str) -> dict[str, int]:
        """Items bought together with `item_id` → times (a copy)."""
        return dict(self._pairs.get(item_id, {}))

    def _bump(self, a: str, b: str) -> None:
        row = self._pairs.setdefault(a, {})
        if b in row:
            row[b] += 1
        elif len(row) < self.max_neighbors:
            row[b] = 1
        else:
            victim = min(row, key=lambda k: (row[k], k))
            row[b] = row.pop(victim) + 1

    def _evict(self) -> None:
        keep = max(int(self.max_items * 0.9), 1)
        ranked = sorted(self._orders, key=lambda i: (-self._orders[i], i))
        for i in ranked[keep:]:
            del self._orders[i]
            self._pairs.pop(i, None)
