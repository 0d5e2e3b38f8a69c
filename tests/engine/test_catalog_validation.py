"""The action catalog: the default is complete; errors name file:line, field and why."""

from __future__ import annotations

import pytest

from engine.catalog import load_catalog, parse_catalog
from features.errors import CatalogError
from features.stage import Stage

GOOD = """\
version: "1"
channels:
  web: {cost: 0}
  email: {cost: 0.1, opt_in: true, outbound: true}
actions:
  - id: a1
    channels: [web, email]
    when: "cart_value > 20"
    messages:
      web: "Hi {first_name}"
      email: "Mail"
"""


def test_default_catalog_covers_every_stage_and_channel():
    cat = load_catalog()
    # no `lifecycle:` declared: the retail journey, stage i being Stage(i)
    assert cat.lifecycle.stages == tuple(s.label for s in Stage)
    assert {s for a in cat.actions for s in a.stages} == {int(s) for s in Stage}
    # channels are the catalog's own, in the order it declares them
    assert cat.world.channels == tuple(cat.channels) == (
        "web", "app", "chatbot", "email", "push", "sms", "voice")
    assert {c for a in cat.actions for c in a.channels} == set(cat.world.channels)
    assert cat.n_treatments == sum(len(a.channels) for a in cat.actions)


def test_a_minimal_catalog_compiles_to_treatments():
    cat = parse_catalog(GOOD, "c.yaml")
    assert cat.n_treatments == 2 and list(cat.pred_ptr) == [0, 1, 2]


@pytest.mark.parametrize(("old", "new", "where"), [
    ("[web, email]", "[web, fax]", "c.yaml:7: actions[0].channels[1]: unknown name 'fax'"),
    ('"cart_value > 20"', '"cart_value > 20 or orders > 1"', "c.yaml:8: actions[0].when"),
    ('"cart_value > 20"', '"cart_valu > 20"', "unknown feature 'cart_valu'"),
    ('      email: "Mail"\n', "", "missing message template for channel 'email'"),
    ('"Hi {first_name}"', '"Hi {email}"', "unknown template field {email}"),
    ("  - id: a1\n", "  - id: a1\n    cooldown: soon\n",
     "actions[0].cooldown: expected a duration"),
    ("  - id: a1\n", "  - id: a1\n    colour: red\n", "unknown field 'colour'"),
    ("  - id: a1\n", "  - id: a1\n    stages: [dreaming]\n", "unknown name 'dreaming'"),
])
def test_errors_name_line_field_and_why(old, new, where):
    with pytest.raises(CatalogError, match=where.replace("[", r"\[").replace("]", r"\]")
                       .replace("{", r"\{").replace("}", r"\}")):
        parse_catalog(GOOD.replace(old, new), "c.yaml")


def test_duplicate_ids_are_rejected():
    text = GOOD + GOOD[GOOD.index("  - id"):]
    with pytest.raises(CatalogError, match="duplicate action id 'a1'"):
        parse_catalog(text, "c.yaml")


V2 = """\
version: "2"
world:
  categories:
    running: {label: "Running", aliases: ["Run"]}
    trail: {aliases: ["Trail > Running"]}
  traits:
    - {name: plan, from: traits.plan, type: categorical, values: [basic, plus]}
channels:
  web: {cost: 0}
  call_centre: {cost: 4.0, opt_in: true, outbound: true, response_window: 3d}
triggers:
  browse_abandoned: {on: [Product Viewed], delay: 1d, send_window: {start: 9, end: 11}}
actions:
  - id: a1
    channels: [web, call_centre]
    triggers: [request, browse_abandoned]
    category: trail
    messages:
      web: "Hi"
      call_centre: "Call"
"""


def test_a_v2_catalog_declares_its_own_channels_categories_and_triggers():
    cat = parse_catalog(V2, "w.yaml")
    assert cat.world.channels == ("web", "call_centre")
    assert [cat.treatment_id(t) for t in range(cat.n_treatments)] == ["a1@web",
                                                                       "a1@call_centre"]
    assert cat.actions[0].category == "trail" and cat.world.category_of("Run") == 0
    trig = cat.triggers["browse_abandoned"]
    assert trig.on == frozenset({"Product Viewed"}) and trig.delay == 86400.0
    assert trig.send_window == (9.0, 11.0)
    assert list(cat.respond_window) == [2 * 3600.0, 3 * 86400.0]


@pytest.mark.parametrize(("old", "new", "where", "why"), [
    ("[web, call_centre]", "[web, callcentre]", "w.yaml:15: actions[0].channels[1]:",
     "unknown name 'callcentre'; expected one of ['call_centre', 'web']"),
    ('["Trail > Running"]', '["Trail > Running", "run"]', "w.yaml:4: world.categories:",
     "'run' maps to both 'running' and 'trail': give it to one category"),
    ("type: categorical, values: [basic, plus]", "type: categorical",
     "w.yaml:7: world.traits[0].values:", "trait of type categorical needs its values listed"),
    ("type: categorical, values: [basic, plus]", "type: ordinal, values: []",
     "w.yaml:7: world.traits[0].values:", "trait of type ordinal needs its values listed"),
    ("{start: 9, end: 11}", "{start: 25, end: 11}",
     "w.yaml:12: triggers.browse_abandoned.send_window.start:",
     "expected a number in [0.0, 24], got 25"),
    ("{start: 9, end: 11}", "{start: 9}", "w.yaml:12: triggers.browse_abandoned.send_window.end:",
     "expected a number in [0.0, 24], got None"),
    ("{start: 9, end: 11}", "{start: 9, end: 11, tz: CET}",
     "w.yaml:12: triggers.browse_abandoned.send_window.tz:", "unknown field 'tz'"),
    ("{start: 9, end: 11}", "nine to eleven", "w.yaml:12: triggers.browse_abandoned.send_window:",
     "expected a mapping, got str"),
    ("category: trail", "category: cycling", "w.yaml:17: actions[0].category:",
     "'cycling' is not a declared category"),
])
def test_v2_errors_name_file_line_field_and_why(old, new, where, why):
    assert old in V2
    with pytest.raises(CatalogError) as e:
        parse_catalog(V2.replace(old, new), "w.yaml")
    assert str(e.value).startswith(where) and why in str(e.value), str(e.value)


CALL_CENTRE = "call_centre: {cost: 4.0, opt_in: true, outbound: true, response_window: 3d}"


@pytest.mark.parametrize(("old", "new", "why"), [
    ("opt_in: true", "opt_in: no", "channels.call_centre.opt_in: expected true or false, got 'no'"),
    ("outbound: true", "outbound: off",
     "channels.call_centre.outbound: expected true or false, got 'off'"),
    ("outbound: true", "outbound: true, quiet_hours: 1",
     "channels.call_centre.quiet_hours: expected true or false, got 1"),
])
def test_channel_flags_are_booleans(old, new, why):
    """YAML 1.2 booleans (so a trigger's `on:` is a key): `no` and `off` are strings, which
    must not silently read as true."""
    assert CALL_CENTRE in V2
    with pytest.raises(CatalogError) as e:
        parse_catalog(V2.replace(CALL_CENTRE, CALL_CENTRE.replace(old, new)), "w.yaml")
    assert str(e.value) == f"w.yaml:10: {why}"
    ok = parse_catalog(V2.replace(CALL_CENTRE, CALL_CENTRE.replace("opt_in: true",
                                                                  "opt_in: false")), "w.yaml")
    assert ok.channels["call_centre"].opt_in is False and ok.channels["call_centre"].outbound


def test_a_single_alias_without_brackets_is_one_alias_not_its_letters():
    # `aliases: sneakers` is accepted as a list of one (like every list of names); it used
    # to be declared letter by letter ('s', 'n', 'e', ...), so "s" meant this category
    cat = parse_catalog(V2.replace('aliases: ["Run"]', "aliases: Run"), "w.yaml")
    assert cat.world.aliases == {"running": 0, "run": 0, "trail": 1, "trail > running": 1}
    assert cat.world.category_of("n", count=False) >= 2  # a letter is no alias: a bucket
