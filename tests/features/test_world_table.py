"""`features.world`, pinned by hand: category normalization, declaration (labels, aliases,
errors), lookups and their cache, and declared traits' reading, encoding and labels."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY

from features.world import DEFAULT_KINDS, RETAIL_STAGES, Trait, World, normalize_category


def _unknown() -> float:
    return REGISTRY.get_sample_value("journey_unknown_categories_total") or 0.0


@pytest.mark.parametrize(("raw", "key"), [
    ("Women > Running > Shoes", "women > running > shoes"),
    ("  WOMEN/Running|Shoes ", "women > running > shoes"),
    ("a›b»c\\d", "a > b > c > d"),
    ("Women's & Girls' > Running", "womens and girls > running"),
    ("womens_running_shoes", "womens running shoes"),
    ("Sale!! > > 50% off", "sale > 50 off"),
    (" > x >  ", "x"),
    ("---", ""),
])
def test_normalize_category(raw, key):
    assert normalize_category(raw) == key


def test_declare_labels_aliases_and_vocabulary():
    w = World.declare({"running_shoes": {"aliases": ["Sneakers"]},
                       "hydration": {"label": "Drinks & Bottles"},
                       "socks": None, "caps": {"label": "Caps", "aliases": None}},
                      buckets=3.0, channels=["web", "sms"], kinds=["info"],
                      traits=[Trait("vip", "traits", "vip", "boolean")], stages=["a", "b"])
    assert w.categories == ("running_shoes", "hydration", "socks", "caps")
    assert w.labels == {"running_shoes": "Running Shoes", "hydration": "Drinks & Bottles",
                        "socks": "Socks", "caps": "Caps"}
    # the id (as words) always, the label where it says more, every alias
    assert w.aliases == {"running shoes": 0, "sneakers": 0, "hydration": 1,
                         "drinks and bottles": 1, "socks": 2, "caps": 3}
    assert w.buckets == 3 and isinstance(w.buckets, int) and w.n_categories == 7
    assert (w.channels, w.kinds, w.stages) == (("web", "sms"), ("info",), ("a", "b"))
    assert [t.name for t in w.traits] == ["vip"]
    assert (w.channel_index("sms"), w.channel_index("fax"), w.kind_index("info"),
            w.stage_index("b")) == (1, -1, 0, 1)
    with pytest.raises(ValueError):
        w.kind_index("x")


def test_declare_from_a_list_and_the_defaults():
    w = World.declare(["shoes", "socks"])
    assert w.categories == ("shoes", "socks") and w.labels == {"shoes": "Shoes",
                                                               "socks": "Socks"}
    assert (w.buckets, w.channels, w.kinds, w.traits, w.stages) == (
        16, (), DEFAULT_KINDS, (), RETAIL_STAGES)
    assert DEFAULT_KINDS == ("offer", "content", "message", "service")
    assert RETAIL_STAGES == ("awareness", "research", "evaluation", "purchase", "delivery",
                             "use", "support", "retention", "advocacy", "upsell",
                             "retargeting")
    empty = World()
    assert (empty.categories, empty.buckets, empty.n_categories) == ((), 16, 16)


@pytest.mark.parametrize(("decl", "message"), [
    ({"shoes": {"aliases": ["!!"]}}, "category 'shoes': alias '!!' is empty once normalized"),
    ({"shoes": {}, "socks": {"aliases": ["Shoes"]}},
     "'Shoes' maps to both 'shoes' and 'socks': give it to one category"),
    ({"shoes": {}, "socks": {"label": "shoes"}},
     "'shoes' maps to both 'shoes' and 'socks': give it to one category"),
])
def test_declare_errors(decl, message):
    with pytest.raises(ValueError) as e:
        World.declare(decl)
    assert str(e.value) == message


def test_the_same_alias_twice_for_one_category_is_fine():
    w = World.declare({"shoes": {"label": "Shoes!", "aliases": ["shoes", "SHOES"]}})
    assert w.aliases == {"shoes": 0}


def test_lookup_ids_labels_and_buckets():
    w = World.declare({"shoes": {"label": "Sneakers"}}, buckets=4)
    assert (w.category_id(-1), w.category_id(0), w.category_id(1), w.category_id(4)) == (
        None, "shoes", "~0", "~3")
    assert (w.category_label(-1), w.category_label(0), w.category_label(2)) == (
        None, "Sneakers", None)
    # blake2b-64 of the normalized string, big-endian, mod 4 (+1 declared category)
    assert [w.category_of(s, count=False) for s in ("Garden", "Garden > Tools", "Toys")] == [
        4, 1, 2]


def test_unknown_strings_are_counted_each_time_and_declared_ones_never():
    w = World.declare(["shoes"], buckets=4)
    before = _unknown()
    assert w.category_of("Shoes") == 0 and w.category_of("Shoes") == 0  # second: cached
    assert _unknown() == before
    assert w.category_of("Garden") == 4 and w.category_of("Garden") == 4
    assert _unknown() == before + 2
    assert w.category_of("Garden", count=False) == 4
    assert w.category_of("Toys", count=False) == 2
    assert _unknown() == before + 2


def test_paths_prefer_the_most_specific_declared_ancestor_down_to_the_first_part():
    w = World.declare(["women", "hydration", "trail"], buckets=0)
    assert w.category_of("Women > Hydration", count=False) == 0  # an ancestor beats a leaf
    assert w.category_of("Sale > Trail > Hydration", count=False) == 1  # else the last leaf
    assert w.category_of("Men > Sale", count=False) == -1  # no buckets: nothing


def test_one_bucket_takes_every_undeclared_string():
    w = World.declare(["shoes"], buckets=1)
    assert [w.category_of(s, count=False) for s in ("Garden", "Toys", "x")] == [1, 1, 1]


def test_lookups_are_cached_by_the_raw_string():
    w = World.declare(["shoes"], buckets=4)
    assert w.category_of("Garden", count=False) == 4 and w.category_of("Shoes") == 0
    assert w._cache == {"Garden": 4, "Shoes": 0}
    w.aliases["garden"] = 0  # a world is declared once; the cache answers from then on
    assert w.category_of("Garden", count=False) == 4
    assert w.category_of("GARDEN", count=False) == 0  # a new raw string is resolved


def test_the_lookup_cache_is_bounded():
    w = World.declare(["shoes"], buckets=4)
    for i in range(4096):
        w.category_of(f"aisle {i}", count=False)
    assert len(w._cache) == 4096
    w.category_of("shoes", count=False)
    assert len(w._cache) == 1  # full: cleared, then the new entry
    assert w.category_of("aisle 7", count=False) == w.category_of("Aisle 7", count=False)


# ------------------------------------------------------------------ traits

NUM = Trait("n", "traits", "n", "numeric")
BOOL = Trait("b", "traits", "b", "boolean")
PLAN = Trait("plan", "traits", "plan", "categorical", ("basic", "Plus", "premium"))
TIER = Trait("tier", "traits", "tier", "ordinal", ("bronze", "silver", "gold"))


@pytest.mark.parametrize(("trait", "raw", "slot"), [
    (NUM, 3, 3.0), (NUM, -2.5, -2.5), (NUM, "7", 7.0), (NUM, " 1e3 ", 1000.0),
    (NUM, 1e12, 1e12), (NUM, -1e12, -1e12), (NUM, 1.0000001e12, None),
    (NUM, 1e12 + 0.5, None), (NUM, "x", None),
    (NUM, True, None), (NUM, None, None), (NUM, [1], None), (NUM, float("inf"), None),
    (NUM, "nan", None), (NUM, "-inf", None),
    (BOOL, True, 1.0), (BOOL, False, 0.0), (BOOL, 1, None), (BOOL, "true", None),
    (PLAN, "basic", 1.0), (PLAN, "plus", 2.0), (PLAN, " PREMIUM ", 3.0), (PLAN, "gold", None),
    (PLAN, 2, None), (PLAN, None, None),
    (TIER, "gold", 3.0), (TIER, "Silver", 2.0), (TIER, "", None),
])
def test_trait_encode(trait, raw, slot):
    assert trait.encode(raw) == slot


@pytest.mark.parametrize(("trait", "slot", "label"), [
    (NUM, 3.0, 3), (NUM, 2.5, 2.5), (NUM, -4.0, -4), (BOOL, 1.0, True), (BOOL, 0.0, False),
    (PLAN, 1.0, "basic"), (PLAN, 3.0, "premium"), (PLAN, 0.0, None), (PLAN, 4.0, None),
    (TIER, 2.0, "silver"), (TIER, -1.0, None),
])
def test_trait_label(trait, slot, label):
    out = trait.label(slot)
    assert out == label and type(out) is type(label)


@pytest.mark.parametrize(("trait", "traits", "props", "context", "event", "slot"), [
    (Trait("a", "traits", "a", "numeric"), {"a": 2}, {"a": 3}, {"a": 4}, "E", 2.0),
    (Trait("a", "properties", "a", "numeric"), {"a": 2}, {"a": 3}, {"a": 4}, "E", 3.0),
    (Trait("a", "context", "a", "numeric"), {"a": 2}, {"a": 3}, {"a": 4}, "E", 4.0),
    (Trait("a", "context", "app.build", "numeric"), {}, {}, {"app": {"build": 9}}, None, 9.0),
    (Trait("a", "context", "app.build", "numeric"), {}, {}, {"app": 9}, None, None),
    (Trait("a", "context", "app.build", "numeric"), {}, {}, {"app": {}}, None, None),
    (Trait("a", "properties", "s", "numeric", event="Survey"), {}, {"s": 5}, {}, "Survey", 5.0),
    (Trait("a", "properties", "s", "numeric", event="Survey"), {}, {"s": 5}, {}, "Other", None),
    (Trait("a", "properties", "s", "numeric", event="Survey"), {}, {"s": 5}, {}, None, None),
    (Trait("a", "properties", "s", "numeric"), {}, {"s": 5}, {}, None, 5.0),
    # an event filter applies to properties only
    (Trait("a", "traits", "s", "numeric", event="Survey"), {"s": 6}, {}, {}, "Other", 6.0),
    (Trait("a", "traits", "s", "boolean"), {"s": "yes"}, {}, {}, None, None),
])
def test_trait_read(trait, traits, props, context, event, slot):
    assert trait.read(traits, props, context, event) == slot


def test_numeric_slots_are_floats():
    v = NUM.encode(3)
    assert isinstance(v, float) and not math.isnan(v)
