"""Message templates in Liquid, compiled when the catalog loads and rendered per decision.

Catalog authors write Liquid (``{{ customer.first_name | default: 'Hi' }}``), as they already do
in Braze or Shopify. python-liquid is sandboxed: a template reads only the keys of the plain
mappings and lists in its scope (never Python attributes), cannot load other files (`include`
and `render` are disabled) and runs under loop and output limits.

Load time is strict, render time is lenient: syntax errors and unknown filters raise
`CatalogError` naming the catalog file's own line; undefined variables render empty.
Channels with ``format: html`` autoescape what the scope supplies; text channels do not.
A template with no ``{{``/``{%`` in the old ``{first_name}`` syntax is translated first.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import yaml
from babel import numbers as babel_numbers
from babel.core import Locale, UnknownLocaleError
from liquid import Environment
from liquid.exceptions import LiquidError
from liquid.filter import with_context
from liquid.undefined import is_undefined

from features.errors import CatalogError, JourneyError

__all__ = [
    "FILTERS",
    "LEGACY_FIELDS",
    "Message",
    "Rendered",
    "Template",
    "TemplateRenderError",
    "compile_message",
    "compile_template",
    "message_scope",
    "template_line",
    "translate_legacy",
]

LEGACY_FIELDS: Mapping[str, str] = {
    "first_name": "customer.first_name | default: 'there'",
    "cart_value": "customer.cart_value | fixed: 2",
    "cart_items": "customer.cart_items",
    "orders": "customer.orders",
    "category": "category.label | default: 'new'",
    "region": "customer.region | default: 'your area'",
    "stage": "customer.stage",
}
"""Old ``{field}`` names and the Liquid expression each now stands for (same defaults)."""

_LEGACY = re.compile(r"\{([a-z_]+)\}")
_DEFAULT_CURRENCY = "USD"
_DEFAULT_LOCALE = "en_US"


class TemplateRenderError(JourneyError):
    """A template failed while rendering (a resource limit, or a filter given bad data)."""


class Rendered(NamedTuple):
    """A rendered message: `subject` is None for channels that have none."""

    subject: str | None
    body: str


# ---------------------------------------------------------------------------- filters


def _number(value: object) -> float | None:
    if isinstance(value, bool) or is_undefined(value) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def pluralize(count: object, singular: object, plural: object = None) -> str:
    """``{{ n | pluralize: 'item', 'items' }}``: the singular word when `n` is 1, else the
    plural (`singular` + 's' when no plural is given). Returns the word only, as Shopify."""
    one = "" if is_undefined(singular) or singular is None else str(singular)
    many = one + "s" if plural is None or is_undefined(plural) else str(plural)
    return one if _number(count) == 1.0 else many


def fixed(value: object, digits: object = 2) -> str:
    """``{{ x | fixed: 2 }}``: the number with exactly `digits` decimals, no grouping."""
    n = _number(value) or 0.0
    d = _number(digits)
    return f"{n:.{max(int(d if d is not None else 2), 0)}f}"


def percent(value: object, digits: object = 0) -> str:
    """``{{ 0.15 | percent }}`` → ``15%`` (a share in 0..1 as a percentage)."""
    n = (_number(value) or 0.0) * 100.0
    d = max(int(_number(digits) or 0), 0)
    text = f"{n:.{d}f}"
    return f"{text}%"


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(_DEFAULT_LOCALE)


_is_currency = lru_cache(maxsize=256)(babel_numbers.is_currency)


@lru_cache(maxsize=8192)
def _format_money(amount: str, code: str, locale: str) -> str:
    """Babel's formatting, cached: a shop's prices repeat, and babel re-applies the pattern
    on every call (~100 µs)."""
    return babel_numbers.format_currency(Decimal(amount), code, locale=_locale(locale))


@with_context
def money(value: object, currency: object = None, *, context: Any) -> str:
    """``{{ price | money }}`` or ``{{ price | money: 'GBP' }}``: a price in major units,
    formatted for the scope's `locale` in the given currency (else the scope's `currency`,
    else USD)."""
    code = currency if isinstance(currency, str) and currency else context.resolve(
        "currency", default=_DEFAULT_CURRENCY)
    code = str(code).upper()
    if not _is_currency(code):
        msg = f"money: unknown currency code {code!r}; use an ISO 4217 code such as 'EUR'"
        raise TemplateRenderError(msg)
    name = context.resolve("locale", default=_DEFAULT_LOCALE)
    n = _number(value)
    try:
        amount = str(Decimal(str(n if n is not None else 0.0)))
    except InvalidOperation as e:
        msg = f"money: cannot format {value!r}"
        raise TemplateRenderError(msg) from e
    return _format_money(amount, code, name if isinstance(name, str) and name else
                         _DEFAULT_LOCALE)


FILTERS: Mapping[str, Any] = {"pluralize": pluralize, "fixed": fixed, "percent": percent,
                              "money": money}
"""Journey's filters, on top of Liquid's standard ones (default, round, times, upcase, ...)."""


class _Environment(Environment):
    """Liquid with resource limits: a template cannot loop or write without bound."""

    loop_iteration_limit = 10_000
    output_stream_limit = 256_000
    local_namespace_limit = 64_000


def _environment(*, html: bool) -> _Environment:
    env = _Environment(autoescape=html, strict_filters=True)
    for tag in ("include", "render"):  # no loader: a message cannot read other files
        env.tags.pop(tag, None)
    for name, func in FILTERS.items():
        env.add_filter(name, func)
    return env


_ENVIRONMENTS = {False: _environment(html=False), True: _environment(html=True)}


# ---------------------------------------------------------------------------- compiling


def template_line(node: yaml.Node) -> int:
    """The catalog line of a YAML scalar's first text line, for `compile_template(line=)`.

    Block scalars (``|``, ``>``) start on the line below their indicator. Exact for ``|``
    blocks and one-line strings; folded and multi-line flow scalars lose their line breaks,
    so errors inside them point at the scalar's first line of text.
    """
    line = node.start_mark.line + 1
    return line + 1 if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") else line


def _line_of(text: str, index: int) -> int:
    """1-based line of character `index` in `text` (the last line when out of range)."""
    if index < 0:
        return text.count("\n") + 1 - (1 if text.endswith("\n") else 0)
    return text.count("\n", 0, index) + 1


def translate_legacy(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Old ``{first_name}`` syntax → Liquid, when `text` has no ``{{``/``{%``.

    Returns the translated text and the (index, name) of every unknown ``{name}``.
    """
    if "{{" in text or "{%" in text:
        return text, []
    unknown: list[tuple[int, str]] = []

    def sub(m: re.Match[str]) -> str:
        expr = LEGACY_FIELDS.get(m.group(1))
        if expr is None:
            unknown.append((m.start(), m.group(1)))
            return m.group(0)
        return "{{ " + expr + " }}"

    return _LEGACY.sub(sub, text), unknown


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """One compiled Liquid template; `render` returns the text."""

    source: str
    where: str
    line: int
    field: str
    html: bool
    _bound: Any

    def render(self, scope: Mapping[str, Any]) -> str:
        """Render with `scope` (plain mappings, lists, strings and numbers)."""
        try:
            return str(self._bound.render(**scope))
        except (LiquidError, TemplateRenderError) as e:
            why = e.message if isinstance(e, LiquidError) else str(e)
            msg = f"{self.where}:{self.line}: {self.field}: template failed to render: {why}"
            raise TemplateRenderError(msg) from e

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.source, self.where, self.line, self.field, self.html))

    def __repr__(self) -> str:
        return f"Template({self.where}:{self.line}: {self.field})"


def _rebuild(source: str, where: str, line: int, field: str, html: bool) -> Template:
    return compile_template(source, where=where, line=line, field=field, html=html)


def compile_template(source: str, *, where: str, line: int, field: str,
                     html: bool = False) -> Template:
    """Compile one template; raise `CatalogError` ``"{where}:{line}: {field}: {why}"``.

    `line` is the catalog line on which the template's first line stands, so an error on
    the template's n-th line is reported at ``line + n - 1``; `html` turns on autoescaping.
    """
    def fail(index: int, why: str) -> CatalogError:
        return CatalogError(f"{where}:{line + _line_of(source, index) - 1}: {field}: {why}")

    if not isinstance(source, str) or not source.strip():
        msg = f"{where}:{line}: {field}: expected a non-empty template string, got {source!r}"
        raise CatalogError(msg)
    text, unknown = translate_legacy(source)
    if unknown:
        index, name = unknown[0]
        raise fail(index, f"unknown template field {{{name}}}; use one of "
                          f"{sorted(LEGACY_FIELDS)} or Liquid, e.g. {{{{ customer.{name} }}}}")
    env = _ENVIRONMENTS[html]
    try:
        bound = env.from_string(text)
    except LiquidError as e:
        token = e.token
        index = token.start_index if token is not None else -1
        where_hint = " (at the end of the template: is a block left open?)" if index < 0 else ""
        raise fail(index, f"Liquid syntax error: {e.message}{where_hint}") from e
    for name, spans in bound.analyze(include_partials=False).filters.items():
        if name not in env.filters:
            close = difflib.get_close_matches(name, list(env.filters), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise fail(spans[0].index, f"unknown filter {name!r}{hint} (Journey's filters: "
                                       f"{sorted(FILTERS)} and Liquid's standard ones)")
    return Template(source, where, line, field, html, bound)


@dataclass(frozen=True, slots=True)
class Message:
    """A channel's message: a body and, for channels such as email, a subject."""

    body: Template
    subject: Template | None = None

    def render(self, scope: Mapping[str, Any]) -> Rendered:
        """Render both parts; the subject on one line (no header injection), both trimmed."""
        subject = None
        if self.subject is not None:
            subject = " ".join(self.subject.render(scope).split())
        return Rendered(subject, self.body.render(scope).strip())


def compile_message(source: str | Mapping[str, Any], *, where: str,
                    line: int | Mapping[str, int], field: str, html: bool = False) -> Message:
    """Compile a catalog message: a plain string (the body) or ``{subject, body}``.

    `line` is the catalog line of the template text, or for a mapping a mapping
    ``{"subject": n, "body": m}`` (a single number is used for both). `html` autoescapes the
    body; a subject is a plain-text header and is never escaped.
    """
    def line_for(part: str) -> int:
        if isinstance(line, Mapping):
            return int(line.get(part, line.get("body", 0)))
        return int(line)

    if isinstance(source, str):
        return Message(compile_template(source, where=where, line=line_for("body"),
                                        field=field, html=html))
    if not isinstance(source, Mapping):
        msg = (f"{where}:{line_for('body')}: {field}: expected a template string or a mapping "
               f"with 'subject' and 'body', got {type(source).__name__}")
        raise CatalogError(msg)
    extra = sorted(set(source) - {"subject", "body"})
    if extra or "body" not in source:
        why = f"unknown field {extra[0]!r}" if extra else "missing 'body'"
        msg = f"{where}:{line_for('body')}: {field}: {why}; a message has 'subject' and 'body'"
        raise CatalogError(msg)
    body = compile_template(source["body"], where=where, line=line_for("body"),
                            field=f"{field}.body", html=html)
    subject = None
    if source.get("subject") is not None:
        subject = compile_template(source["subject"], where=where, line=line_for("subject"),
                                   field=f"{field}.subject", html=False)
    return Message(body, subject)


# ---------------------------------------------------------------------------- scope


def _plain(value: Any) -> Any:
    """Copy into plain dicts/lists/scalars (anything else becomes its string)."""
    kind = type(value)
    if value is None or kind in (str, bool, int, float):
        return value
    if kind is dict:
        return {str(k): _plain(v) for k, v in value.items()}
    if kind in (list, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "to_scope"):
        return _plain(value.to_scope())
    if isinstance(value, np.generic):  # numpy scalars, np.bool_ included
        return _plain(value.item())
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def message_scope(*, customer: Mapping[str, Any], category: Mapping[str, Any] | None = None,
                  items: Sequence[Any] = (), action: Mapping[str, Any] | None = None,
                  coupon: str | None = None, channel: str = "",
                  context: Mapping[str, Any] | None = None, currency: str | None = None,
                  locale: str | None = None) -> dict[str, Any]:
    """The template scope of world-spec.md, as plain data.

    `customer`: first_name, region, stage, traits, orders, cart_value, cart_items,
    top_category {id, label}; `category`: {id, label}; `items`: `Item`s (or mappings);
    `action`: {id, kind, attributes, discount}. Counts become ints so they print as ``2``.
    """
    cust = _plain(customer)
    for key in ("orders", "cart_items"):
        if isinstance(cust.get(key), float) and float(cust[key]).is_integer():
            cust[key] = int(cust[key])
    scope: dict[str, Any] = {
        "customer": cust,
        "category": _plain(category) if category is not None else {},
        "items": _plain(list(items)),
        "action": _plain(action) if action is not None else {},
        "coupon": coupon,
        "channel": channel,
        "context": _plain(context) if context is not None else {},
    }
    if currency:
        scope["currency"] = currency
    if locale:
        scope["locale"] = locale
    return scope
