"""Validation helpers for user-written YAML: every error names the file, line, field and why."""

from __future__ import annotations

import re
from typing import Any

import yaml

from features.errors import CatalogError

__all__ = ["Ctx", "load_yaml"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
Path_ = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false (so `on:`, `off:`, `yes`, `no` stay strings, as
    catalog authors mean them: a trigger's `on: [Product Viewed]`)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _line_index(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    # a block scalar's text starts on the line after its `|` or `>` indicator
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    out[path] = node.start_mark.line + 1 + int(block)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*path, k.value)] = k.start_mark.line + 1
            _line_index(v, (*path, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*path, i), out)


def load_yaml(text: str, source: str) -> tuple[Any, Ctx]:
    """Parse a YAML document and index the line of every path in it."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        msg = f"{source}: not valid YAML: {e}"
        raise CatalogError(msg) from e
    lines: dict[Path_, int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return doc, Ctx(source, lines)


class Ctx:
    """Tracks the file name and YAML line of each path, for error messages."""

    def __init__(self, source: str, lines: dict[Path_, int]) -> None:
        self.source = source
        self.lines = lines

    def line(self, path: Path_) -> int:
        """The line of `path` (or of its nearest ancestor)."""
        return next((self.lines[path[:i]] for i in range(len(path), -1, -1)
                     if path[:i] in self.lines), 0)

    def fail(self, path: Path_, why: str) -> CatalogError:
        """A `CatalogError` at `path`: `file:line: field: why`."""
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        msg = f"{self.source}:{self.line(path)}: {where or '<root>'}: {why}"
        return CatalogError(msg)

    def duration(self, path: Path_, v: Any) -> float:
        """Seconds from `30m`, `2d`, `1w` or a number of seconds."""
        if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
            return float(v)
        if isinstance(v, str):
            m = _DURATION.match(v)
            if m:
                return float(m.group(1)) * _UNITS[m.group(2)]
        raise self.fail(path, f"expected a duration like '30m', '2d' or seconds, got {v!r}")

    def flag(self, path: Path_, v: Any) -> bool:
        """A boolean: `true` or `false` (YAML 1.2: `yes`, `no`, `on`, `off` are strings)."""
        if isinstance(v, bool):
            return v
        raise self.fail(path, f"expected true or false, got {v!r}")

    def number(self, path: Path_, v: Any, *, lo: float = 0.0,
               hi: float = float("inf")) -> float:
        """A number within [lo, hi]."""
        if isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi:
            return float(v)
        bound = f">= {lo}" if hi == float("inf") else f"in [{lo}, {hi}]"
        raise self.fail(path, f"expected a number {bound}, got {v!r}")

    def mapping(self, path: Path_, v: Any) -> dict[str, Any]:
        """A mapping (YAML dict)."""
        if isinstance(v, dict):
            return v
        raise self.fail(path, f"expected a mapping, got {type(v).__name__}")

    def names(self, path: Path_, v: Any, allowed: Any = None, *,
              empty: bool = False) -> tuple[str, ...]:
        """A list of names (a single name is accepted as a list of one)."""
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or (not v and not empty) \
                or not all(isinstance(x, str) for x in v):
            hint = f" from {sorted(allowed)}" if allowed is not None else ""
            raise self.fail(path, f"expected a {'' if empty else 'non-empty '}list of names{hint}")
        if allowed is not None:
            for i, x in enumerate(v):
                if x not in allowed:
                    raise self.fail((*path, i),
                                    f"unknown name {x!r}; expected one of {sorted(allowed)}")
        return tuple(v)

    def known_keys(self, path: Path_, obj: dict[str, Any], known: set[str]) -> None:
        """Reject fields the schema does not have (a typo is an error, not a silent no-op)."""
        for k in obj:
            if k not in known:
                raise self.fail((*path, k), f"unknown field {k!r}; expected one of {sorted(known)}")
