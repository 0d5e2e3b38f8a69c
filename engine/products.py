"""The product catalog: the shop's items, loaded from JSONL or CSV, and the item lists a
message features (viewed models, new arrivals, complements, popular items).

Loading is strict: every error names ``file:line: field: why``. Run time is lenient: an item
id the catalog does not know is skipped and counted in `Selection.missing`, never an error.
Selections are pure functions of the catalog, a customer's bounded recent id lists (newest
last) and, for complements and popularity, the online `CoPurchase` counts.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import orjson

from engine.copurchase import CoPurchase
from features.errors import CatalogError

__all__ = [
    "ITEM_SOURCES",
    "Item",
    "ProductCatalog",
    "RecentItems",
    "Selection",
    "load_products",
]

ITEM_SOURCES = ("viewed", "added", "bought", "complements", "new_arrivals", "popular")
"""The `items.source` names an action may declare."""

_FIELDS = ("id", "name", "category", "price", "url", "image", "added_at", "discount",
           "complements", "attributes")
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
_UNRANKED = 1 << 30


@dataclass(frozen=True, slots=True)
class Item:
    """One product. `category` is the declared category id; `shop_category` the shop's own
    string it was mapped from; `added_at` is epoch seconds (None: never a new arrival)."""

    id: str
    name: str
    category: str
    price: float
    url: str | None = None
    image: str | None = None
    discount: float = 0.0
    attributes: Mapping[str, Any] = field(default_factory=dict)
    added_at: float | None = None
    complements: tuple[str, ...] = ()
    shop_category: str = ""

    @property
    def sale_price(self) -> float:
        """The price after the item's own discount, to the cent."""
        return round(self.price * (1.0 - self.discount), 2)

    def to_payload(self) -> dict[str, Any]:
        """The decision record's item: {id, name, url, price, image}."""
        return {"id": self.id, "name": self.name, "url": self.url, "price": self.price,
                "image": self.image}

    def to_scope(self) -> dict[str, Any]:
        """The template scope's item (plain data)."""
        return {"id": self.id, "name": self.name, "category": self.category,
                "shop_category": self.shop_category, "price": self.price,
                "sale_price": self.sale_price, "url": self.url, "image": self.image,
                "discount": self.discount, "attributes": dict(self.attributes)}


class Selection(NamedTuple):
    """Items picked for a message, and how many requested ids the catalog did not know."""

    items: tuple[Item, ...]
    missing: int = 0


class RecentItems(NamedTuple):
    """A customer's bounded recent item ids, each list oldest first (newest last)."""

    viewed: Sequence[str] = ()
    added: Sequence[str] = ()
    bought: Sequence[str] = ()


def _newest_first(ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in reversed(ids):
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


class ProductCatalog:
    """Items by id, with per-category indexes for the selections."""

    def __init__(self, items: Iterable[Item], source: str = "<products>") -> None:
        self.source = source
        self._items: dict[str, Item] = {}
        for it in items:
            if it.id in self._items:
                msg = f"{source}: id: duplicate product id {it.id!r}"
                raise CatalogError(msg)
            self._items[it.id] = it
        by_cat: dict[str, list[Item]] = {}
        for it in self._items.values():
            by_cat.setdefault(it.category, []).append(it)
        self._by_category = {c: sorted(v, key=lambda i: i.id) for c, v in by_cat.items()}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    @property
    def categories(self) -> frozenset[str]:
        """The category ids that have at least one item."""
        return frozenset(self._by_category)

    def get(self, item_id: str) -> Item | None:
        """The item, or None for an id the catalog does not know (count it, don't fail)."""
        return self._items.get(item_id)

    # ----------------------------------------------------------------- selections

    def recent(self, ids: Sequence[str], limit: int) -> Selection:
        """Distinct known items of `ids` (oldest first), most recent first."""
        out: list[Item] = []
        missing = 0
        for i in _newest_first(ids):
            it = self._items.get(i)
            if it is None:
                missing += 1
            elif len(out) < limit:
                out.append(it)
        return Selection(tuple(out), missing)

    def viewed_with_discount(self, viewed_ids: Sequence[str], limit: int) -> Selection:
        """The models she viewed that carry a discount, most recently viewed first."""
        picked = self.recent(viewed_ids, len(viewed_ids))
        items = [it for it in picked.items if it.discount > 0.0][:limit]
        return Selection(tuple(items), picked.missing)

    def new_arrivals(self, categories: Iterable[str], since_ts: float, limit: int, *,
                     exclude: Collection[str] = ()) -> Selection:
        """Items of `categories` added at or after `since_ts`, newest first (id breaks ties)."""
        pool = {it.id: it for c in categories for it in self._by_category.get(c, ())
                if it.added_at is not None and it.added_at >= since_ts and it.id not in exclude}
        ranked = sorted(pool.values(), key=lambda it: (-(it.added_at or 0.0), it.id))
        return Selection(tuple(ranked[:limit]))

    def popular(self, category: str | None, limit: int, learned: CoPurchase | None = None, *,
                exclude: Collection[str] = ()) -> Selection:
        """Items of `category` (all when None) by orders counted online, then newest, then id."""
        pool = self._by_category.get(category, []) if category is not None else list(self)

        def key(it: Item) -> tuple[float, float, str]:
            n = learned.orders(it.id) if learned is not None else 0.0
            return (-n, -(it.added_at or 0.0), it.id)

        ranked = sorted((it for it in pool if it.id not in exclude), key=key)
        return Selection(tuple(ranked[:limit]))

    def complements(self, bought_ids: Sequence[str], limit: int,
                    learned: CoPurchase | None = None, *, prior: float = 2.0) -> Selection:
        """Items that go with what she bought, never one she bought.

        Score = co-purchase counts learned online + `prior` pseudo-counts for each declared
        complement; ties go to the earlier declared complement, then the id.
        """
        bought = _newest_first(bought_ids)
        owned = set(bought)
        score: dict[str, float] = {}
        rank: dict[str, int] = {}
        missing = 0
        for b in bought:
            it = self._items.get(b)
            if it is None:
                missing += 1
            else:
                for r, c in enumerate(it.complements):
                    score[c] = score.get(c, 0.0) + prior
                    rank[c] = min(rank.get(c, r), r)
            if learned is not None:
                for c, n in learned.neighbors(b).items():
                    score[c] = score.get(c, 0.0) + n
        ranked = sorted((c for c in score if c not in owned and c in self._items),
                        key=lambda c: (-score[c], rank.get(c, _UNRANKED), c))
        return Selection(tuple(self._items[c] for c in ranked[:limit]), missing)

    def select(self, source: str, recent: RecentItems, limit: int, *,
               categories: Sequence[str] = (), since_ts: float = 0.0,
               learned: CoPurchase | None = None) -> Selection:
        """Dispatch an action's ``items: {source: ...}`` to the selection it names.

        `categories`: the action's category, else the customer's top categories (for
        new_arrivals; popular uses the first, or all items when empty).
        """
        if source in ("viewed", "added", "bought"):
            return self.recent(getattr(recent, source), limit)
        if source == "complements":
            return self.complements(recent.bought, limit, learned)
        if source == "new_arrivals":
            return self.new_arrivals(categories, since_ts, limit, exclude=set(recent.bought))
        if source == "popular":
            return self.popular(categories[0] if categories else None, limit, learned,
                                exclude=set(recent.bought))
        msg = f"unknown item source {source!r}; expected one of {ITEM_SOURCES}"
        raise ValueError(msg)


# ---------------------------------------------------------------------------- loading


class _Row:
    """Validates one row's fields; errors name the file, line and field."""

    def __init__(self, source: str, line: int) -> None:
        self.source, self.line = source, line

    def reject(self, name: str, why: str, cause: BaseException | None = None) -> NoReturn:
        msg = f"{self.source}:{self.line}: {name}: {why}"
        raise CatalogError(msg) from cause

    def text(self, row: Mapping[str, Any], name: str, *, required: bool) -> str | None:
        v = row.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and name == "id":
            v = str(v)
        if v is None or v == "":
            if required:
                self.reject(name, f"missing required field {name!r}")
            return None
        if not isinstance(v, str) or not v.strip():
            self.reject(name, f"expected a non-empty string, got {v!r}")
        return v.strip()

    def number(self, row: Mapping[str, Any], name: str, *, required: bool, lo: float,
               hi: float) -> float | None:
        v = row.get(name)
        if v is None or v == "":
            if required:
                self.reject(name, f"missing required field {name!r}")
            return None
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                self.reject(name, f"expected a number, got {v!r}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or not lo <= v <= hi:
            self.reject(name, f"expected a number in [{lo:g}, {hi:g}], got {v!r}")
        return float(v)

    def timestamp(self, row: Mapping[str, Any], name: str) -> float | None:
        v = self.text(row, name, required=False)
        if v is None:
            return None
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            try:
                dt = datetime.combine(date.fromisoformat(v), datetime.min.time())
            except ValueError:
                msg = f"expected an ISO date like '2026-11-20' (or a date-time), got {v!r}"
                self.reject(name, msg)
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _item(row: Mapping[str, Any], attributes: Mapping[str, Any], complements: Any,
          r: _Row, categorize: Callable[[str], str]) -> Item:
    item_id = r.text(row, "id", required=True)
    name = r.text(row, "name", required=True)
    shop_category = r.text(row, "category", required=True)
    assert item_id is not None and name is not None and shop_category is not None
    try:
        category = categorize(shop_category)
    except (CatalogError, ValueError, KeyError) as e:
        r.reject("category", f"{shop_category!r} is not in the catalog's vocabulary: {e}", e)
    if not isinstance(category, str) or not category:
        r.reject("category", f"the vocabulary mapped {shop_category!r} to {category!r}")
    if not isinstance(complements, list) or not all(isinstance(c, str) and c.strip()
                                                     for c in complements):
        r.reject("complements", f"expected a list of product ids, got {complements!r}")
    if not isinstance(attributes, Mapping):
        r.reject("attributes", f"expected a JSON object, got {attributes!r}")
    price = r.number(row, "price", required=True, lo=0.0, hi=1e12)
    assert price is not None
    return Item(
        id=item_id, name=name, category=category, price=price,
        url=r.text(row, "url", required=False), image=r.text(row, "image", required=False),
        discount=r.number(row, "discount", required=False, lo=0.0, hi=1.0) or 0.0,
        attributes=dict(attributes), added_at=r.timestamp(row, "added_at"),
        complements=tuple(c.strip() for c in complements), shop_category=shop_category)


def _jsonl_rows(text: str, source: str) -> Iterator[tuple[int, Mapping[str, Any], Any, Any]]:
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            msg = f"{source}:{n}: <row>: not valid JSON: {e}"
            raise CatalogError(msg) from e
        if not isinstance(row, dict):
            msg = f"{source}:{n}: <row>: expected a JSON object, got {type(row).__name__}"
            raise CatalogError(msg)
        for k in row:
            if k not in _FIELDS:
                msg = (f"{source}:{n}: {k}: unknown field {k!r}; expected one of "
                       f"{list(_FIELDS)} (put shop-specific fields under 'attributes')")
                raise CatalogError(msg)
        attributes = row.get("attributes")
        complements = row.get("complements")
        yield (n, row, {} if attributes is None else attributes,
               [] if complements is None else complements)


def _scalar(text: str) -> Any:
    return (float(text) if "." in text else int(text)) if _NUMBER.match(text) else text


def _csv_rows(text: str, source: str) -> Iterator[tuple[int, Mapping[str, Any], Any, Any]]:
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    for need in ("id", "name", "category", "price"):
        if need not in names:
            msg = f"{source}:1: {need}: the header row has no {need!r} column"
            raise CatalogError(msg)
    if len(set(names)) != len(names) or "" in names:
        msg = f"{source}:1: <header>: column names must be distinct and non-empty: {names}"
        raise CatalogError(msg)
    start = reader.line_num + 1
    for values in reader:
        n, start = start, reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            msg = (f"{source}:{n}: <row>: {len(values)} fields where the header has "
                   f"{len(names)}; quote fields that contain commas")
            raise CatalogError(msg)
        row = dict(zip(names, values, strict=True))
        attributes: Any = {k: _scalar(v.strip()) for k, v in row.items()
                           if k not in _FIELDS and v.strip()}
        if row.get("attributes", "").strip():
            try:
                declared = orjson.loads(row["attributes"])
            except orjson.JSONDecodeError as e:
                msg = f"{source}:{n}: attributes: not a JSON object: {e}"
                raise CatalogError(msg) from e
            attributes = {**attributes, **declared} if isinstance(declared, dict) else declared
        complements = [c.strip() for c in row.get("complements", "").split(";") if c.strip()]
        yield n, row, attributes, complements


def load_products(path: str | Path, categorize: Callable[[str], str]) -> ProductCatalog:
    """Load a ``.jsonl`` or ``.csv`` (header row) product file.

    `categorize` maps the shop's category string (``"Women > Running > Shoes"``) to a
    category id; it may raise `CatalogError`/`ValueError`/`KeyError` for strings it rejects.
    Raises `CatalogError` ``"file:line: field: why"`` for a missing file, a malformed row, a
    missing or invalid field, a duplicate id or a complement naming no product in the file.
    """
    p = Path(path)
    source = str(p)
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        msg = f"{source}: products must be a .jsonl or .csv file, got {suffix or 'no suffix'!r}"
        raise CatalogError(msg)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        msg = (f"{source}: products file not found (world.products is relative to the "
               f"catalog file)")
        raise CatalogError(msg) from e
    except (OSError, UnicodeDecodeError) as e:
        msg = f"{source}: cannot read the products file: {e}"
        raise CatalogError(msg) from e
    rows = _jsonl_rows(text, source) if suffix == ".jsonl" else _csv_rows(text, source)
    items: list[Item] = []
    lines: dict[str, int] = {}
    for n, row, attributes, complements in rows:
        it = _item(row, attributes, complements, _Row(source, n), categorize)
        if it.id in lines:
            msg = (f"{source}:{n}: id: duplicate product id {it.id!r} (first on line "
                   f"{lines[it.id]})")
            raise CatalogError(msg)
        lines[it.id] = n
        items.append(it)
    if not items:
        msg = f"{source}: no products in the file"
        raise CatalogError(msg)
    for it in items:
        for c in it.complements:
            if c == it.id:
                msg = f"{source}:{lines[it.id]}: complements: {it.id!r} cannot complement itself"
                raise CatalogError(msg)
            if c not in lines:
                msg = (f"{source}:{lines[it.id]}: complements: unknown product {c!r}; "
                       f"complements must name product ids in this file")
                raise CatalogError(msg)
    return ProductCatalog(items, source)
