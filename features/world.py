"""The declared world: a shop's (or a bank's, a telco's) own vocabulary, from its catalog.

A `World` says which categories exist (with labels, aliases and the shop's own strings and
paths such as "Women > Running > Shoes"), which channels and action kinds there are, which
identify traits and event properties become features, and the journey stages. Everything
that sizes a customer's state row, the model vector and the rule features derives from it,
so a new vocabulary needs no code change.

An undeclared category string is never folded into a catch-all: it hashes into one of
`category_buckets` buckets (a bounded vocabulary grown from the data) and is counted in
`journey_unknown_categories_total`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter

__all__ = [
    "DEFAULT_KINDS",
    "RETAIL_STAGES",
    "TRAIT_TYPES",
    "Trait",
    "World",
    "normalize_category",
]

DEFAULT_KINDS: tuple[str, ...] = ("offer", "content", "message", "service")
RETAIL_STAGES: tuple[str, ...] = (
    "awareness", "research", "evaluation", "purchase", "delivery", "use", "support",
    "retention", "advocacy", "upsell", "retargeting",
)
"""The default lifecycle (a shop's journey; `features.stage` infers it from behaviour)."""
TRAIT_TYPES = ("numeric", "boolean", "categorical", "ordinal")
TRAIT_SOURCES = ("traits", "properties", "context")
_SEPARATORS = re.compile(r"\s*(?:>|/|\||›|»|\\)\s*")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_CACHE_LIMIT = 4096

UNKNOWN_CATEGORIES = Counter(
    "journey_unknown_categories_total",
    "Category strings not declared in the catalog's world (hashed into buckets)")


def normalize_category(text: str) -> str:
    """Lower-case path form of a category string: `Women > Running > Shoes` → `women >
    running > shoes`; `womens_running_shoes` → `womens running shoes`."""
    t = text.strip().lower().replace("&", " and ").replace("'", "")
    parts = [_NON_WORD.sub(" ", p).strip() for p in _SEPARATORS.split(t)]
    return " > ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Trait:
    """A declared trait: where its value comes from and how it becomes a feature.

    `numeric` values enter the vector as sign·log1p(|v|) and rules in their own units;
    `boolean` as 0/1; `categorical` as a one-hot over `values` (rules see `name_value` 0/1);
    `ordinal` as the 1-based position in `values` (rules compare it: `loyalty >= 2`).
    """

    name: str
    source: str
    key: str
    type: str
    values: tuple[str, ...] = ()
    event: str | None = None

    def read(self, traits: Mapping[str, Any], properties: Mapping[str, Any],
             context: Mapping[str, Any], event_name: str | None) -> float | None:
        """This trait's value in one event (None when the event does not carry it)."""
        if self.source == "properties" and self.event is not None and event_name != self.event:
            return None
        src = {"traits": traits, "properties": properties, "context": context}[self.source]
        v: Any = src
        for part in self.key.split("."):
            if not isinstance(v, Mapping) or part not in v:
                return None
            v = v[part]
        return self.encode(v)

    def encode(self, v: Any) -> float | None:
        """The slot value of a raw trait value (None if it does not fit the declaration)."""
        if self.type == "boolean":
            return (1.0 if v else 0.0) if isinstance(v, bool) else None
        if self.type == "numeric":
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                return None
            try:
                f = float(v)
            except ValueError:
                return None
            return f if math.isfinite(f) and abs(f) <= 1e12 else None
        if not isinstance(v, str):
            return None
        key = v.strip().lower()
        for i, name in enumerate(self.values):
            if name.lower() == key:
                return float(i + 1)
        return None

    def label(self, slot: float) -> str | bool | int | float | None:
        """The human value of a slot (for templates)."""
        if self.type == "boolean":
            return bool(slot)
        if self.type == "numeric":
            return int(slot) if slot.is_integer() else slot
        i = int(slot)
        return self.values[i - 1] if 0 < i <= len(self.values) else None


@dataclass(slots=True)
class World:
    """The vocabulary a catalog declares (see the module docstring)."""

    categories: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    buckets: int = 16
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = DEFAULT_KINDS
    traits: tuple[Trait, ...] = ()
    stages: tuple[str, ...] = RETAIL_STAGES
    _cache: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def declare(cls, categories: Mapping[str, Mapping[str, Any]] | Sequence[str] = (), *,
                buckets: int = 16, channels: Sequence[str] = (),
                kinds: Sequence[str] = DEFAULT_KINDS, traits: Sequence[Trait] = (),
                stages: Sequence[str] = RETAIL_STAGES) -> World:
        """Build a world; raise ValueError when two declarations claim one string."""
        decl = categories if isinstance(categories, Mapping) else {c: {} for c in categories}
        ids = tuple(decl)
        labels: dict[str, str] = {}
        aliases: dict[str, int] = {}

        def claim(text: str, i: int) -> None:
            key = normalize_category(text)
            if not key:
                msg = f"category {ids[i]!r}: alias {text!r} is empty once normalized"
                raise ValueError(msg)
            if aliases.get(key, i) != i:
                msg = (f"{text!r} maps to both {ids[aliases[key]]!r} and {ids[i]!r}: "
                       "give it to one category")
                raise ValueError(msg)
            aliases[key] = i

        for i, cid in enumerate(ids):
            spec = decl[cid] or {}
            labels[cid] = str(spec.get("label") or cid.replace("_", " ").title())
            claim(cid, i)
            if labels[cid].lower() != cid.replace("_", " "):
                claim(labels[cid], i)
            for alias in spec.get("aliases", ()) or ():
                claim(str(alias), i)
        return cls(categories=ids, labels=labels, aliases=aliases, buckets=int(buckets),
                   channels=tuple(channels), kinds=tuple(kinds), traits=tuple(traits),
                   stages=tuple(stages))

    # ----------------------------------------------------------------- categories

    @property
    def n_categories(self) -> int:
        """Declared categories plus hash buckets: the length of every per-category array."""
        return len(self.categories) + self.buckets

    def category_of(self, raw: Any, *, count: bool = True) -> int:
        """Index of a category string (declared, by alias or path; else a hash bucket).

        A path resolves to its most specific declared ancestor ("Women > Running > Shoes"
        → "women > running" → "women"), then to a declared leaf name ("shoes"). Returns -1
        for a missing or non-string value.
        """
        if not isinstance(raw, str) or not raw.strip():
            return -1
        hit = self._cache.get(raw)
        if hit is not None:
            if count and hit >= len(self.categories):
                UNKNOWN_CATEGORIES.inc()
            return hit
        idx = self._resolve(normalize_category(raw))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[raw] = idx
        if count and idx >= len(self.categories):
            UNKNOWN_CATEGORIES.inc()
        return idx

    def _resolve(self, key: str) -> int:
        parts = key.split(" > ")
        for n in range(len(parts), 0, -1):
            hit = self.aliases.get(" > ".join(parts[:n]))
            if hit is not None:
                return hit
        for part in reversed(parts):
            hit = self.aliases.get(part)
            if hit is not None:
                return hit
        if self.buckets <= 0:
            return -1
        h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        return len(self.categories) + h % self.buckets

    def category_id(self, index: int) -> str | None:
        """The declared id of a category index, `~N` for hash bucket N, None for -1."""
        if index < 0:
            return None
        if index < len(self.categories):
            return self.categories[index]
        return f"~{index - len(self.categories)}"

    def category_label(self, index: int) -> str | None:
        """A category's label (a bucket has none: the template falls back)."""
        cid = self.category_id(index)
        return self.labels.get(cid) if cid is not None else None

    # ----------------------------------------------------------------- the rest

    def channel_index(self, name: str) -> int:
        """Position of a channel (-1 if the catalog does not declare it)."""
        try:
            return self.channels.index(name)
        except ValueError:
            return -1

    def kind_index(self, name: str) -> int:
        """Position of an action kind."""
        return self.kinds.index(name)

    def stage_index(self, name: str) -> int:
        """Position of a lifecycle stage."""
        return self.stages.index(name)
