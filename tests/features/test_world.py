"""The declared world: category vocabulary (ids, labels, aliases, paths, hash buckets) and
declared traits becoming rule and vector features."""

from __future__ import annotations

import math

import orjson
import pytest
from prometheus_client import REGISTRY

from engine.catalog import parse_catalog
from features.decode import decode
from features.update import apply_event
from features.world import World

CATEGORIES = {
    "womens_running_shoes": {"label": "Women's Running Shoes",
                             "aliases": ["Women > Running > Shoes", "womens running shoes"]},
    "trail_running": {"label": "Trail Running", "aliases": ["Running > Trail"]},
    "hydration": {"label": "Hydration"},
}


def _unknown() -> float:
    return REGISTRY.get_sample_value("journey_unknown_categories_total") or 0.0


@pytest.fixture
def world() -> World:
    return World.declare(CATEGORIES, buckets=16)


@pytest.mark.parametrize(("raw", "index"), [
    ("womens_running_shoes", 0),  # declared id
    ("Women's Running Shoes", 0),  # label
    ("Women > Running > Shoes", 0),  # alias, as written
    ("women/running/shoes", 0),  # the same path with other separators and case
    ("  WOMENS RUNNING SHOES ", 0),
    ("Trail Running", 1),
    ("Running > Trail", 1),
    ("running | trail", 1),
    ("hydration", 2),
    ("Hydration", 2),
])
def test_declared_ids_labels_and_aliases(world, raw, index):
    before = _unknown()
    assert world.category_of(raw) == index
    assert world.category_id(index) == tuple(CATEGORIES)[index]
    assert _unknown() == before  # declared strings are never counted as unknown


@pytest.mark.parametrize(("raw", "index"), [
    ("Running > Trail > Kids", 1),  # most specific declared ancestor
    ("Women > Running > Shoes > Sale", 0),
    ("Running > Trail > Hydration", 1),  # an ancestor wins over a declared leaf
    ("Outdoor > Hydration", 2),  # no declared ancestor: a declared leaf name
    ("Sale > Hydration > Bottles", 2),  # ... the most specific one
])
def test_paths_fall_back_to_ancestors_then_to_a_leaf(world, raw, index):
    assert world.category_of(raw) == index


def test_unknown_strings_hash_into_counted_buckets(world):
    n = len(CATEGORIES)
    before = _unknown()
    garden = world.category_of("Garden > Tools")
    assert n <= garden < n + 16 and world.n_categories == n + 16
    assert world.category_id(garden) == f"~{garden - n}" and world.category_label(garden) is None
    assert _unknown() == before + 1
    assert world.category_of("garden/tools") == garden  # same normalized string, same bucket
    assert world.category_of("Garden > Tools") == garden  # cached: still counted
    assert _unknown() == before + 3
    assert world.category_of("Garden > Tools", count=False) == garden
    assert _unknown() == before + 3
    other = [world.category_of(f"aisle {i}") for i in range(40)]
    assert len(set(other)) > 8 and all(n <= c < n + 16 for c in other)  # spread over buckets
    assert World.declare(CATEGORIES, buckets=16).category_of("Garden > Tools") == garden


def test_missing_or_non_string_categories_are_minus_one(world):
    before = _unknown()
    for raw in (None, "", "   ", 7, ["shoes"]):
        assert world.category_of(raw) == -1
    assert world.category_id(-1) is None
    assert _unknown() == before


def test_without_buckets_unknown_strings_are_minus_one():
    assert World.declare(CATEGORIES, buckets=0).category_of("Garden > Tools") == -1


def test_a_string_claimed_by_two_categories_is_an_error():
    with pytest.raises(ValueError, match="'Running' maps to both 'running' and 'trail'"):
        World.declare({"running": {}, "trail": {"aliases": ["Running"]}})


TRAITS = """\
version: "t"
world:
  traits:
    - {name: followers, from: traits.followers, type: numeric}
    - {name: plan, from: traits.plan, type: categorical, values: [basic, plus, premium]}
    - {name: vip, from: traits.vip, type: boolean}
    - {name: loyalty, from: traits.tier, type: ordinal, values: [bronze, silver, gold]}
    - {name: nps, from: properties.score, event: "Survey Answered", type: numeric}
channels:
  web: {cost: 0}
actions:
  - id: a1
    channels: [web]
    when: "vip and loyalty >= 2 and plan_plus == 1 and nps >= 9"
    messages: {web: "Hi"}
"""


def _send(cat, state, ev: dict, minute: int = 0) -> None:
    ev = {"userId": "u1", "timestamp": f"2026-03-02T10:{minute:02d}:00Z", **ev}
    apply_event(state, decode(orjson.dumps(ev)), cat.layout, cat.lifecycle)


def _features(cat, state) -> tuple[dict[str, float], dict[str, float]]:
    now = state.row[1]
    r = cat.rules.values(state, now)
    x = cat.features.vectorize(state, now)
    return ({n: float(r[i]) for i, n in enumerate(cat.rules.names)},
            {n: float(x[i]) for i, n in enumerate(cat.features.names)})


def test_declared_traits_become_rule_and_vector_features():
    cat = parse_catalog(TRAITS, "t.yaml")
    names = ("followers", "plan_basic", "plan_plus", "plan_premium", "vip", "loyalty", "nps")
    assert cat.rules.names[-7:] == names and cat.features.names[-7:] == names
    s = cat.layout.new_state("u1", known=True)
    _send(cat, s, {"type": "identify", "traits": {"followers": 99, "plan": "Plus", "vip": True,
                                                   "tier": "silver"}})
    _send(cat, s, {"type": "track", "event": "Survey Answered",
                   "properties": {"score": 9}}, minute=1)
    rules, x = _features(cat, s)
    assert {n: rules[n] for n in names} == {
        "followers": 99.0, "plan_basic": 0.0, "plan_plus": 1.0, "plan_premium": 0.0,
        "vip": 1.0, "loyalty": 2.0, "nps": 9.0}
    assert x["followers"] == pytest.approx(math.log(100.0) / 3.0)  # sign·log1p(|v|), scaled
    assert (x["plan_basic"], x["plan_plus"], x["plan_premium"]) == (0.0, 1.0, 0.0)
    assert x["vip"] == 1.0
    assert x["loyalty"] == pytest.approx(2 / 3)  # position over the number of values
    assert x["nps"] == pytest.approx(math.log(10.0) / 3.0)


def test_trait_values_that_do_not_fit_are_ignored():
    cat = parse_catalog(TRAITS, "t.yaml")
    s = cat.layout.new_state("u1", known=True)
    _send(cat, s, {"type": "identify", "traits": {"followers": "12", "plan": "basic",
                                                   "vip": False, "tier": "gold"}})
    _send(cat, s, {"type": "track", "event": "Survey Answered", "properties": {"score": 7}},
          minute=1)
    _send(cat, s, {"type": "identify", "traits": {"followers": "many", "plan": "gold",
                                                   "vip": "yes", "tier": 3}}, minute=2)
    _send(cat, s, {"type": "track", "event": "Product Viewed", "properties": {"score": 1}},
          minute=3)  # `nps` reads properties.score of "Survey Answered" only
    rules, _ = _features(cat, s)
    assert (rules["followers"], rules["plan_basic"], rules["plan_plus"], rules["vip"],
            rules["loyalty"], rules["nps"]) == (12.0, 1.0, 0.0, 0.0, 3.0, 7.0)
    _send(cat, s, {"type": "identify", "traits": {"followers": -5}}, minute=4)
    _, x = _features(cat, s)
    assert x["followers"] == pytest.approx(-math.log(6.0) / 3.0)
