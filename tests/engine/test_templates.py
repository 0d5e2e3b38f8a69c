"""Liquid message templates: filters, escaping, load-time errors with catalog lines, the old
`{field}` syntax, lenient undefined variables and the sandbox."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import yaml

from engine.templates import (
    LEGACY_FIELDS,
    Rendered,
    TemplateRenderError,
    compile_message,
    compile_template,
    message_scope,
    template_line,
    translate_legacy,
)
from features.errors import CatalogError

SHIPPED = Path(__file__).resolve().parents[2] / "engine" / "catalog.yaml"


def render(source: str, scope: dict | None = None, *, html: bool = False) -> str:
    t = compile_template(source, where="c.yaml", line=1, field="f", html=html)
    return t.render(scope or {})


# ---------------------------------------------------------------------------- filters


def test_default_fills_missing_and_null_values_only():
    src = "{{ customer.first_name | default: 'Hi' }}"
    assert render(src, {"customer": {"first_name": None}}) == "Hi"
    assert render(src, {}) == "Hi"
    assert render(src, {"customer": {"first_name": "Ada"}}) == "Ada"


def test_times_and_round():
    src = "{{ item.price | times: 0.85 | round: 2 }}"
    assert render(src, {"item": {"price": 139.99}}) == "118.99"
    assert render("{{ 2 | times: 3 }}") == "6"


@pytest.mark.parametrize(("scope", "src", "out"), [
    ({}, "{{ 1234.5 | money }}", "$1,234.50"),
    ({"locale": "en_GB"}, "{{ 119 | money: 'GBP' }}", "£119.00"),
    ({"currency": "EUR", "locale": "de_DE"}, "{{ 1234.5 | money }}", "1.234,50\xa0€"),
    ({"currency": "EUR", "locale": "de_DE"}, "{{ 5 | money: 'usd' }}", "5,00\xa0$"),
])
def test_money_formats_in_the_scope_locale(scope, src, out):
    assert render(src, scope) == out


def test_money_with_an_unknown_currency_fails_at_render_naming_the_template():
    with pytest.raises(TemplateRenderError, match=r"c\.yaml:1: f: .*unknown currency code 'ZZZ'"):
        render("{{ 5 | money: 'ZZZ' }}")


@pytest.mark.parametrize(("n", "word"), [(1, "item"), (1.0, "item"), (0, "items"), (2, "items"),
                                         ("1", "item"), (None, "items")])
def test_pluralize(n, word):
    assert render("{{ n | pluralize: 'item', 'items' }}", {"n": n}) == word


def test_pluralize_without_a_plural_adds_s_and_undefined_counts_as_many():
    assert render("{{ n | pluralize: 'sock' }}", {"n": 3}) == "socks"
    assert render("{{ nothing | pluralize: 'pair', 'pairs' }}") == "pairs"


def test_percent_and_fixed():
    assert render("{{ d | percent }}", {"d": 0.15}) == "15%"
    assert render("{{ d | percent: 1 }}", {"d": 0.125}) == "12.5%"
    assert render("{{ v | fixed: 2 }}", {"v": 40}) == "40.00"
    assert render("{{ v | fixed }}", {"v": 1234.567}) == "1234.57"


# ---------------------------------------------------------------------------- escaping


def test_html_channels_escape_scope_values_but_not_the_template_markup():
    src = "<p>Hi {{ customer.first_name }}</p>"
    scope = {"customer": {"first_name": "<script>x</script> & co"}}
    assert render(src, scope, html=True) == "<p>Hi &lt;script&gt;x&lt;/script&gt; &amp; co</p>"
    assert render(src, scope, html=False) == "<p>Hi <script>x</script> & co</p>"


def test_escaping_also_covers_loop_variables_and_assigned_values():
    src = "{% for item in items %}{{ item.name }};{% endfor %}{% assign n = x %}{{ n }}"
    scope = {"items": [{"name": "A<1>"}], "x": '"q"'}
    assert render(src, scope, html=True) == "A&lt;1&gt;;&#34;q&#34;"


def test_the_subject_of_an_html_message_is_plain_text_on_one_line():
    m = compile_message({"subject": "{{ customer.first_name }}, hi", "body": "<b>{{ x }}</b>"},
                        where="c.yaml", line=5, field="m", html=True)
    out = m.render({"customer": {"first_name": "Ann & Bo\r\nBcc: evil@example.com"},
                    "x": "<i>"})
    assert out == Rendered("Ann & Bo Bcc: evil@example.com, hi", "<b>&lt;i&gt;</b>")


# ---------------------------------------------------------------------------- errors


def test_syntax_error_points_at_the_catalog_line():
    src = "line one\nline two\n{% if customer.orders > 0 %}oops {% endfor %}\n"
    with pytest.raises(CatalogError) as e:
        compile_template(src, where="shop.yaml", line=40, field="actions[2].messages.email.body")
    assert str(e.value).startswith("shop.yaml:42: actions[2].messages.email.body: Liquid syntax")
    assert "endfor" in str(e.value)


DOC = """\
actions:
  - id: a
    messages:
      web: "Hi {{ customer.first_name | nope }}"
      email:
        subject: >-
          Hello {{ x | nope }}
        body: |
          <p>line one</p>
          <p>{{ customer.first_name | nope }}</p>
"""


@pytest.mark.parametrize(("path", "line"), [(("web",), 4), (("email", "subject"), 7),
                                            (("email", "body"), 10)])
def test_template_line_maps_yaml_scalars_to_the_catalog_line_of_the_error(path, line):
    node = yaml.compose(DOC).value[0][1].value[0].value[1][1]  # actions[0].messages
    doc = yaml.safe_load(DOC)["actions"][0]["messages"]
    for key in path:
        node = next(v for k, v in node.value if k.value == key)
        doc = doc[key]
    with pytest.raises(CatalogError, match=rf"^shop\.yaml:{line}: m: unknown filter 'nope'"):
        compile_template(doc, where="shop.yaml", line=template_line(node), field="m")


def test_unknown_filter_is_an_error_at_load_with_a_suggestion():
    with pytest.raises(CatalogError) as e:
        compile_template("ok\n{{ customer.first_name | defualt: 'Hi' }}", where="c.yaml",
                         line=7, field="f")
    assert str(e.value).startswith("c.yaml:8: f: unknown filter 'defualt'; did you mean 'default'")


def test_an_unclosed_block_is_reported_at_the_last_line():
    with pytest.raises(CatalogError, match=r"^c\.yaml:12: f: .*block left open"):
        compile_template("a\nb\n{% for item in items %}{{ item.name }}", where="c.yaml",
                         line=10, field="f")


@pytest.mark.parametrize("src", ["", "   ", None, 3])
def test_an_empty_or_non_string_template_is_rejected(src):
    with pytest.raises(CatalogError, match=r"^c\.yaml:4: f: expected a non-empty template"):
        compile_template(src, where="c.yaml", line=4, field="f")  # type: ignore[arg-type]


def test_message_mapping_errors_and_per_part_lines():
    with pytest.raises(CatalogError, match=r"^c\.yaml:3: m: unknown field 'subjet'"):
        compile_message({"subjet": "x", "body": "y"}, where="c.yaml", line=3, field="m")
    with pytest.raises(CatalogError, match=r"^c\.yaml:3: m: missing 'body'"):
        compile_message({"subject": "x"}, where="c.yaml", line=3, field="m")
    with pytest.raises(CatalogError, match=r"^c\.yaml:9: m\.subject: unknown filter 'nope'"):
        compile_message({"subject": "{{ x | nope }}", "body": "y"}, where="c.yaml",
                        line={"subject": 9, "body": 10}, field="m")
    with pytest.raises(CatalogError, match=r"^c\.yaml:11: m\.body: Liquid syntax"):
        compile_message({"subject": "s", "body": "b\n{{ x"}, where="c.yaml",
                        line={"subject": 9, "body": 10}, field="m")


def test_a_plain_string_message_has_no_subject_and_is_trimmed():
    m = compile_message("\n  Free shipping on your cart today.\n", where="c", line=1, field="m")
    assert m.render({}) == Rendered(None, "Free shipping on your cart today.")


def test_resource_limits_stop_runaway_templates_at_render():
    loop = compile_template("{% for i in (1..100000000) %}x{% endfor %}", where="c.yaml",
                            line=2, field="f")
    with pytest.raises(TemplateRenderError, match=r"^c\.yaml:2: f: .*loop iteration limit"):
        loop.render({})


# ---------------------------------------------------------------------------- old syntax


def test_old_single_brace_fields_render_as_before():
    scope = message_scope(customer={"first_name": "Ada", "cart_items": 2.0, "cart_value": 40,
                                    "orders": 3.0, "region": "eu-west", "stage": "evaluation"},
                          category={"id": "shoes", "label": "shoes"})
    src = "Hi {first_name}: {cart_items} items, {cart_value}, {orders} orders, {category}, " \
          "{region}, {stage}"
    assert render(src, scope) == "Hi Ada: 2 items, 40.00, 3 orders, shoes, eu-west, evaluation"


def test_old_fields_keep_their_old_fallbacks():
    assert render("Hi {first_name}, {category} near {region}", message_scope(customer={})) \
        == "Hi there, new near your area"


def test_old_syntax_is_not_translated_once_the_text_uses_liquid():
    text, unknown = translate_legacy("{{ coupon }} and {first_name}")
    assert (text, unknown) == ("{{ coupon }} and {first_name}", [])
    assert render("{{ coupon }} {first_name}", {"coupon": "RUN15"}) == "RUN15 {first_name}"


def test_an_unknown_old_field_is_an_error_on_its_line():
    with pytest.raises(CatalogError, match=r"^c\.yaml:6: f: unknown template field \{cart\}"):
        compile_template("ok\n{cart} here", where="c.yaml", line=5, field="f")


def test_every_shipped_catalog_message_compiles_and_fills_every_field():
    doc = yaml.safe_load(SHIPPED.read_text())
    scope = message_scope(customer={"first_name": "Ada", "cart_items": 2, "cart_value": 40.0,
                                    "orders": 1, "region": "eu-west", "stage": "use"},
                          category={"id": "shoes", "label": "shoes"})
    n = 0
    for a in doc["actions"]:
        for ch, text in a["messages"].items():
            out = compile_template(text, where=str(SHIPPED), line=1, field=ch).render(scope)
            assert not re.search(r"\{[a-z_]+\}", out), (a["id"], ch, out)
            for name in LEGACY_FIELDS:
                if "{" + name + "}" in text:
                    assert "{" not in out
            n += 1
    assert n > 40


# ---------------------------------------------------------------------------- sandbox


class _Secretive:
    api_key = "sk-live-123"

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)


@pytest.mark.parametrize("src", [
    "{{ customer.__class__ }}",
    "{{ customer.__class__.__mro__ }}",
    "{{ items.__len__ }}{{ items.first.__dict__ }}",
    "{{ customer.first_name.__class__.__init__.__globals__ }}",
    "{{ obj.api_key }}{{ obj.__class__.api_key }}",
    "{% assign x = customer %}{{ x.__class__ }}{{ x.keys }}{{ x.items }}",
])
def test_a_template_cannot_reach_attributes_outside_the_scope(src):
    scope = {"customer": {"first_name": "Ada"}, "items": [{"name": "x"}], "obj": _Secretive()}
    assert render(src, scope) == ""


@pytest.mark.parametrize("src", ["{% include 'engine/catalog.yaml' %}",
                                 "{% render '/etc/passwd' %}"])
def test_a_template_cannot_load_files(src):
    with pytest.raises(CatalogError, match="unexpected tag"):
        compile_template(src, where="c.yaml", line=1, field="f")


def test_message_scope_copies_objects_into_plain_data():
    class Thing:
        def to_scope(self) -> dict:
            return {"name": "Sock", "tags": ("a", "b")}

    scope = message_scope(customer={"orders": 2.0, "traits": {"vip": True}}, items=[Thing()],
                          action={"id": "x", "attributes": {"discount": 0.15}}, coupon="RUN15",
                          channel="email", context={"rain": 1.0}, currency="GBP", locale="en_GB")
    assert scope["customer"] == {"orders": 2, "traits": {"vip": True}}
    assert scope["items"] == [{"name": "Sock", "tags": ["a", "b"]}]
    assert (scope["coupon"], scope["channel"], scope["currency"]) == ("RUN15", "email", "GBP")
    assert render("{{ items.first.name }} x{{ customer.orders }}", scope) == "Sock x2"


def test_message_scope_turns_numpy_scalars_and_tuples_into_python_values():
    import numpy as np

    scope = message_scope(customer={"cart_value": np.float32(40.5), "cart_items": np.float64(2.0),
                                    "orders": np.int64(3), "traits": {"vip": np.bool_(False)}},
                          items=[{"tags": ("a",)}])
    c = scope["customer"]
    assert (c["cart_value"], c["cart_items"], c["orders"]) == (40.5, 2, 3)
    assert type(c["cart_value"]) is float and type(c["orders"]) is int
    assert c["traits"]["vip"] is False
    assert render("{{ customer.cart_items }} {{ customer.cart_value | fixed: 1 }} "
                  "{% if customer.traits.vip %}vip{% else %}regular{% endif %}", scope) \
        == "2 40.5 regular"


# ---------------------------------------------------------------------------- misc


def test_undefined_variables_render_empty():
    assert render("[{{ nothing }}|{{ customer.nope.deeper }}|{% for i in none %}x{% endfor %}]",
                  {"customer": {}}) == "[||]"


def test_templates_pickle_by_recompiling():
    t = compile_template("Hi {{ customer.first_name | upcase }}", where="c.yaml", line=3,
                         field="f", html=True)
    back = pickle.loads(pickle.dumps(t))
    scope = {"customer": {"first_name": "a<b"}}
    assert back.render(scope) == t.render(scope) == "Hi A&lt;B"
    assert (back.where, back.line, back.field, back.html) == ("c.yaml", 3, "f", True)
