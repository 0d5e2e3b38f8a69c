"""The action catalog: the default is complete; errors name file:line, field and why."""

from __future__ import annotations

import pytest

from engine.catalog import load_catalog, parse_catalog
from features.errors import CatalogError
from features.schema import CHANNELS
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
    assert {s for a in cat.actions for s in a.stages} == set(Stage)
    assert {c for a in cat.actions for c in a.channels} == set(CHANNELS)
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
