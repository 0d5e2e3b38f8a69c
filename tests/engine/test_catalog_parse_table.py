"""`engine.catalog_parse`, pinned: the default catalog's parsed values, every default of a
minimal catalog, and every error path with its exact `file:line: field: why`, all written
here by hand.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from engine.catalog import Catalog, load_catalog, parse_catalog
from engine.learning_config import LearningConfig
from features.errors import CatalogError
from features.stage import DeclaredLifecycle, RetailLifecycle, Transition

H, DAY = 3600.0, 86400.0

BASE = """\
version: "p"
defaults: {cooldown: 1d, attribution_window: 3d}
world:
  categories:
    shoes: {label: Shoes, aliases: [sneakers]}
    socks: {}
  category_buckets: 4
  traits:
    - {name: plan, from: traits.plan, type: categorical, values: [basic, plus]}
channels:
  web: {cost: 0}
  email: {cost: 0.1, opt_in: true, outbound: true, cap: {count: 2, window: 1d}}
contact_policy:
  total_cap: {count: 3, window: 1d}
  quiet_hours: {start: 21, end: 8}
placements: {home: [web]}
triggers:
  cart_abandoned: {on: [Product Added], delay: 1h, cancel_on: [Order Completed]}
outcomes: {respond: [Promotion Clicked], convert: {Order Completed: revenue}}
lifecycle:
  stages: [new, active, lapsed]
  transitions:
    - {on: [Order Completed], to: active}
    - {after: 30d, from: [active], to: lapsed}
  on_inactivity: lapsed
learning: {prior_logit_sd: 1.5}
actions:
  - id: a1
    channels: [web, email]
    stages: [new, active]
    triggers: [request, cart_abandoned]
    when: "cart_value > 20"
    cost: {email: 0.2}
    messages:
      web: "Hi"
      email: "Mail"
"""
"""Line numbers (a block value's line is the line it starts on): defaults 2, categories 4-6,
traits 9, web 11, email 12, contact_policy 13-15, placements 16, triggers 17-18, outcomes 19,
lifecycle 20-25, learning 26, actions 27, a1 28, channels 29, stages 30, triggers 31, when 32,
cost 33, messages 34-36."""

CHANNELS = "['email', 'web']"
STAGES = "['active', 'lapsed', 'new']"
DURATION = "expected a duration like '30m', '2d' or seconds, got"
A1 = "  - id: a1\n"
END = '      email: "Mail"\n'


def _parse(text: str) -> Catalog:
    return parse_catalog(text, "p.yaml")


def _error(text: str) -> str:
    with pytest.raises(CatalogError) as e:
        _parse(text)
    return str(e.value)


def _edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# ------------------------------------------------------------------ parsed values, by hand


def test_the_base_catalog_parses_to_these_values():
    cat = _parse(BASE)
    assert cat.version == "p" and cat.source == "p.yaml"
    assert cat.world.categories == ("shoes", "socks") and cat.world.buckets == 4
    assert cat.world.labels == {"shoes": "Shoes", "socks": "Socks"}
    assert cat.world.aliases == {"shoes": 0, "sneakers": 0, "socks": 1}
    (plan,) = cat.world.traits
    assert (plan.name, plan.source, plan.key, plan.type, plan.values, plan.event) == (
        "plan", "traits", "plan", "categorical", ("basic", "plus"), None)
    assert cat.world.kinds == ("offer", "content", "message", "service")
    assert cat.world.channels == ("web", "email") and cat.world.stages == ("new", "active",
                                                                          "lapsed")
    web, email = cat.channels["web"], cat.channels["email"]
    assert (web.cost, web.opt_in, web.outbound, web.quiet_hours, web.cap_count, web.cap_window,
            web.response_window, web.html) == (0.0, False, False, False, 1000, DAY, 2 * H,
                                               False)
    assert (email.cost, email.opt_in, email.outbound, email.quiet_hours, email.cap_count,
            email.cap_window, email.response_window) == (0.1, True, True, False, 2, DAY, DAY)
    assert cat.total_cap == (3, DAY) and (cat.quiet_start, cat.quiet_end) == (21.0, 8.0)
    assert cat.placements == {"home": ("web",)}
    assert cat.attribution_window == 3 * DAY and cat.response_window == 2 * H
    (trig,) = cat.triggers.values()
    assert (trig.name, trig.on, trig.delay, trig.cancel_on, trig.when, trig.send_window) == (
        "cart_abandoned", frozenset({"Product Added"}), H, frozenset({"Order Completed"}), (),
        None)
    assert cat.outcomes.respond == frozenset({"Promotion Clicked"})
    assert cat.outcomes.convert == {"Order Completed": "revenue"}
    life = cat.lifecycle
    assert isinstance(life, DeclaredLifecycle)
    assert (life.stages, life.initial, life.on_inactivity) == (("new", "active", "lapsed"), 0, 2)
    assert life.transitions == (
        Transition(to=1, on=frozenset({"Order Completed"}), from_=None, after=None),
        Transition(to=2, on=frozenset(), from_=frozenset({1}), after=30 * DAY))
    assert cat.learning == LearningConfig(prior_logit_sd=1.5)
    (a,) = cat.actions
    assert (a.id, a.kind, a.channels, a.stages, a.triggers) == (
        "a1", "offer", ("web", "email"), frozenset({0, 1}),
        frozenset({"request", "cart_abandoned"}))
    assert (a.value, a.lever, a.cost, a.cooldown, a.suppress_after, a.budget) == (
        1.0, 1.0, {"email": 0.2}, DAY, 0, 2**31 - 1)
    assert a.when_text == ("cart_value > 20",) and len(a.when) == 1
    assert a.when[0].value == 20.0 and a.when[0].feature == cat.rules.index["cart_value"]
    assert (a.category, a.category_index, a.attributes, a.cooldown_scope, a.response_window,
            a.attribution_window, a.outcomes, a.items, a.coupon, a.deep_link) == (
        None, -1, {}, "action", {}, 0.0, None, None, None, None)
    assert a.messages["web"].body.source == "Hi" and a.messages["email"].body.source == "Mail"
    assert a.messages["web"].subject is None
    assert a.context_weights == ()
    assert list(cat.cost) == pytest.approx([0.0, 0.2])


MINIMAL = """\
channels:
  web: {}
  sms: {outbound: true}
actions:
  - id: a1
    channels: [web, sms]
    messages: {web: "Hi", sms: "Hi"}
"""


def test_every_default_of_a_minimal_catalog():
    cat = _parse(MINIMAL)
    assert cat.version == "1"
    assert isinstance(cat.lifecycle, RetailLifecycle)
    assert cat.world.categories == () and cat.world.buckets == 16 and cat.world.traits == ()
    assert cat.world.kinds == ("offer", "content", "message", "service")
    web, sms = cat.channels["web"], cat.channels["sms"]
    assert (web.cost, web.opt_in, web.outbound, web.quiet_hours, web.cap_count, web.cap_window,
            web.response_window, web.html) == (0.0, False, False, False, 1000, DAY, 2 * H,
                                               False)
    assert (sms.outbound, sms.response_window) == (True, DAY)  # outbound: answers come later
    assert cat.total_cap == (1000, DAY) and (cat.quiet_start, cat.quiet_end) == (21.0, 8.0)
    assert cat.placements == {} and cat.attribution_window == 3 * DAY
    assert cat.response_window == 2 * H
    assert cat.outcomes.respond == frozenset({"Promotion Clicked"})
    assert cat.outcomes.convert == {"Order Completed": "revenue"}
    assert cat.learning == LearningConfig()
    # no `triggers:`: a shop's three classic journeys
    assert sorted(cat.triggers) == ["browse_abandoned", "cart_abandoned", "post_purchase"]
    cart, browse, post = (cat.triggers[n] for n in ("cart_abandoned", "browse_abandoned",
                                                    "post_purchase"))
    assert (cart.on, cart.delay, cart.cancel_on, len(cart.when)) == (
        frozenset({"Product Added", "Checkout Started"}), H, frozenset({"Order Completed"}), 1)
    assert cart.when[0].feature == cat.rules.index["cart_items"] and cart.when[0].value == 1.0
    assert (browse.on, browse.delay, browse.cancel_on) == (
        frozenset({"Product Viewed"}), 2 * H,
        frozenset({"Product Added", "Checkout Started", "Order Completed"}))
    assert browse.when[0].feature == cat.rules.index["cart_items"]
    assert (post.on, post.delay, post.cancel_on, post.when) == (
        frozenset({"Order Completed"}), 2 * DAY, frozenset(), ())
    (a,) = cat.actions
    assert (a.kind, a.stages, a.triggers, a.value, a.lever, a.cost, a.when, a.when_text) == (
        "offer", frozenset(range(11)), frozenset({"request"}), 1.0, 1.0, {}, (), ())
    assert (a.cooldown, a.suppress_after, a.budget, a.cooldown_scope) == (
        DAY, 0, 2**31 - 1, "action")


def test_defaults_section_sets_cooldown_suppression_and_windows():
    cat = _parse("defaults: {cooldown: 2h, suppress_after_ignores: 3, response_window: 3d, "
                 "attribution_window: 3d}\n" + MINIMAL)
    assert (cat.actions[0].cooldown, cat.actions[0].suppress_after) == (2 * H, 3)
    # defaults.response_window (3 d = the attribution window: allowed) for every channel
    assert cat.response_window == 3 * DAY
    assert [c.response_window for c in cat.channels.values()] == [3 * DAY, 3 * DAY]


def test_the_default_catalog_by_hand():
    cat = load_catalog()
    assert cat.version == "2026.11"
    assert cat.world.channels == ("web", "app", "chatbot", "email", "push", "sms", "voice")
    expected = {  # cost, opt_in, outbound, quiet_hours, cap, cap window, response window, html
        "web": (0.0, False, False, False, 20, DAY, 2 * H, False),
        "app": (0.0, False, False, False, 20, DAY, 2 * H, False),
        "chatbot": (0.01, False, False, False, 5, DAY, 2 * H, False),
        "email": (0.02, True, True, False, 2, DAY, DAY, True),
        "push": (0.01, True, True, True, 2, DAY, 2 * H, False),
        "sms": (0.08, True, True, True, 1, 3 * DAY, 2 * H, False),
        "voice": (1.5, True, True, True, 1, 7 * DAY, DAY, False),
    }
    assert {n: (c.cost, c.opt_in, c.outbound, c.quiet_hours, c.cap_count, c.cap_window,
                c.response_window, c.html) for n, c in cat.channels.items()} == expected
    assert cat.total_cap == (3, DAY) and (cat.quiet_start, cat.quiet_end) == (21.0, 8.0)
    assert cat.attribution_window == 3 * DAY and cat.response_window == 2 * H
    assert cat.placements == {"home_hero": ("web",), "product_page": ("web",),
                              "cart_page": ("web",), "app_home": ("app",),
                              "app_product": ("app",), "support_chat": ("chatbot",)}
    assert cat.world.categories == ("apparel", "shoes", "electronics", "home", "beauty",
                                    "sports", "toys")
    assert cat.world.buckets == 16 and [t.name for t in cat.world.traits] == ["age", "loyalty"]
    assert cat.world.traits[1].values == ("bronze", "silver", "gold")
    assert cat.outcomes.respond == frozenset({"Promotion Clicked"}) and cat.outcomes.convert == {}
    assert sorted(cat.triggers) == ["browse_abandoned", "cart_abandoned", "post_purchase"]
    assert len(cat.actions) == 24 and cat.n_treatments == 71
    by_id = {a.id: a for a in cat.actions}
    a = by_id["welcome_first_order"]
    assert (a.kind, a.channels, a.stages, a.triggers, a.value, a.lever, a.cooldown) == (
        "offer", ("web", "app", "email"), frozenset({0, 1}),
        frozenset({"request", "stage_change"}), 14.0, 1.0, 3 * DAY)
    assert a.when_text == ("never_ordered and sessions <= 3",) and len(a.when) == 2
    a = by_id["cart_free_shipping"]
    assert (a.channels, a.stages, a.triggers, a.value, a.lever, a.cost, a.cooldown,
            a.budget) == (("web", "app", "email", "push", "sms"), frozenset({2, 3}),
                          frozenset({"request", "cart_abandoned"}), 22.0, 1.2, {"sms": 0.1},
                          2 * DAY, 1_000_000)
    a = by_id["proactive_support"]
    assert (a.kind, a.channels, a.stages, a.value, a.lever, a.cost, a.cooldown) == (
        "service", ("chatbot", "email", "voice"), frozenset({6}), 10.0, 1.5, {"voice": 2.0},
        3 * DAY)
    a = by_id["loyalty_reward"]
    assert a.stages == frozenset({7, 5, 9}) and a.cooldown == 7 * DAY
    ((preds, weight),) = a.context_weights
    assert weight == 1.2 and len(preds) == 1 and preds[0].value == 2.0
    a = by_id["size_guide_help"]
    assert (a.category, a.category_index, a.channels) == ("shoes", 1, ("web", "app", "chatbot"))
    a = by_id["newsletter_signup"]  # no cooldown of its own: defaults.cooldown
    assert (a.cooldown, a.suppress_after, a.budget, a.stages) == (
        DAY, 0, 2**31 - 1, frozenset({0, 1}))
    a = by_id["vip_concierge_call"]
    assert (a.value, a.lever, a.cooldown, a.channels) == (40.0, 0.8, 30 * DAY,
                                                          ("voice", "chatbot"))
    # a treatment's cost: the action's own for that channel, else the channel's
    tids = [cat.treatment_id(t) for t in range(cat.n_treatments)]
    assert cat.cost[tids.index("cart_free_shipping@sms")] == pytest.approx(0.10)
    assert cat.cost[tids.index("cart_free_shipping@email")] == pytest.approx(0.02)
    assert cat.cost[tids.index("proactive_support@voice")] == pytest.approx(2.0)


# ------------------------------------------------------------------ accepted variants


@pytest.mark.parametrize(("old", "new", "check"), [
    ("  categories:\n    shoes: {label: Shoes, aliases: [sneakers]}\n    socks: {}\n",
     "  categories: [shoes, socks]\n", lambda c: c.world.categories == ("shoes", "socks")),
    ("    socks: {}\n", "    socks:\n", lambda c: c.world.categories == ("shoes", "socks")),
    ("aliases: [sneakers]", "aliases: sneakers", lambda c: c.world.aliases["sneakers"] == 0),
    ("  category_buckets: 4\n", "", lambda c: c.world.buckets == 16),
    ("  category_buckets: 4\n", "  kinds: [promo, info]\n",
     lambda c: c.world.kinds == ("promo", "info") and c.actions[0].kind == "promo"),
    ("world:\n", "world:\n  products: null\n", lambda c: c.products is None),
    ("  on_inactivity: lapsed\n", "  initial: active\n",
     lambda c: (c.lifecycle.initial, c.lifecycle.on_inactivity) == (1, None)),
    ("{after: 30d, from: [active], to: lapsed}", "{after: 30d, from: active, to: [lapsed]}",
     lambda c: c.lifecycle.transitions[1].from_ == frozenset({1})),
    ("email: {cost: 0.1,", "email: {format: html, response_window: 3d, quiet_hours: true, "
     "cost: 0.1,", lambda c: (c.channels["email"].html, c.channels["email"].response_window,
                              c.channels["email"].quiet_hours) == (True, 3 * DAY, True)),
    ("web: {cost: 0}", "web: {cost: 0, format: text}", lambda c: not c.channels["web"].html),
    ("email: {cost: 0.1,", "email: {format: html, cost: 0.1,",  # messages autoescape there
     lambda c: (c.actions[0].messages["email"].body.html,
                c.actions[0].messages["web"].body.html) == (True, False)),
    ("web: {cost: 0}", "web: {cost: 0, cap: {count: 5}}",
     lambda c: (c.channels["web"].cap_count, c.channels["web"].cap_window) == (5, DAY)),
    ("web: {cost: 0}", "web: {cost: 0, cap: {window: 2h}}",
     lambda c: (c.channels["web"].cap_count, c.channels["web"].cap_window) == (1000, 2 * H)),
    ("  total_cap: {count: 3, window: 1d}\n", "", lambda c: c.total_cap == (1000, DAY)),
    ("  total_cap: {count: 3, window: 1d}\n", "  total_cap: {count: 2}\n",
     lambda c: c.total_cap == (2, DAY)),
    ("  total_cap: {count: 3, window: 1d}\n", "  total_cap: {window: 2d}\n",
     lambda c: c.total_cap == (1000, 2 * DAY)),
    ("{start: 21, end: 8}", "{start: 22}", lambda c: (c.quiet_start, c.quiet_end) == (22, 8)),
    ("{start: 21, end: 8}", "{end: 24}", lambda c: (c.quiet_start, c.quiet_end) == (21, 24)),
    ("{start: 21, end: 8}", "{start: 0, end: 0}",
     lambda c: (c.quiet_start, c.quiet_end) == (0, 0)),
    ("placements: {home: [web]}\n", "placements: {home: web}\n",
     lambda c: c.placements == {"home": ("web",)}),
    ("delay: 1h,", 'delay: 90, when: ["cart_items >= 1", "cart_value > 5"], '
     "send_window: {start: 9, end: 11},",
     lambda c: (c.triggers["cart_abandoned"].delay, len(c.triggers["cart_abandoned"].when),
                c.triggers["cart_abandoned"].send_window) == (90.0, 2, (9.0, 11.0))),
    (", cancel_on: [Order Completed]}", "}",
     lambda c: c.triggers["cart_abandoned"].cancel_on == frozenset()),
    ("delay: 1h, ", "", lambda c: c.triggers["cart_abandoned"].delay == 0.0),
    ("convert: {Order Completed: revenue}", "convert: {Order Completed: total, Signed Up: 5}",
     lambda c: c.outcomes.convert == {"Order Completed": "total", "Signed Up": 5.0}),
    ("convert: {Order Completed: revenue}", "convert: null", lambda c: c.outcomes.convert == {}),
    ("{respond: [Promotion Clicked], convert: {Order Completed: revenue}}",
     "{respond: [Clicked]}", lambda c: (c.outcomes.respond, c.outcomes.convert) == (
         frozenset({"Clicked"}), {"Order Completed": "revenue"})),
    ("{respond: [Promotion Clicked], convert: {Order Completed: revenue}}", "{convert: {}}",
     lambda c: c.outcomes.respond == frozenset({"Promotion Clicked"})),
    ("learning: {prior_logit_sd: 1.5}\n", "learning:\n",
     lambda c: c.learning == LearningConfig()),
    ("learning: {prior_logit_sd: 1.5}\n", "learning: {eb_every: 50, fatigue: false}\n",
     lambda c: c.learning == LearningConfig(eb_every=50, fatigue=False)),
    ('version: "p"\n', "version: 2026\n", lambda c: c.version == "2026"),
    ("id: a1", "id: 1a", lambda c: c.actions[0].id == "1a"),
    ('when: "cart_value > 20"', 'when: ["cart_value > 20", "orders >= 1 and rain > 0"]',
     lambda c: (len(c.actions[0].when), c.actions[0].when_text) == (
         3, ("cart_value > 20", "orders >= 1 and rain > 0"))),
    (A1, A1 + "    kind: service\n    value: 7\n    lever: 0.5\n    budget: 10\n"
     "    cooldown: 3h\n    suppress_after_ignores: 2\n    cooldown_scope: channel\n"
     "    attribution_window: 5d\n",
     lambda c: (c.actions[0].kind, c.actions[0].value, c.actions[0].lever,
                c.actions[0].budget, c.actions[0].cooldown, c.actions[0].suppress_after,
                c.actions[0].cooldown_scope, c.actions[0].attribution_window) == (
         "service", 7.0, 0.5, 10, 3 * H, 2, "channel", 5 * DAY)),
    (A1, A1 + "    category: sneakers\n",
     lambda c: (c.actions[0].category, c.actions[0].category_index) == ("shoes", 0)),
    (A1, A1 + "    attributes: {discount: 0.25, band: mid, n: 3}\n",
     lambda c: (c.actions[0].attributes, c.actions[0].discount) == (
         {"discount": 0.25, "band": "mid", "n": 3.0}, 0.25)
     and type(c.actions[0].attributes["n"]) is float),
    (A1, A1 + "    attributes:\n", lambda c: c.actions[0].attributes == {}),
    (A1, A1 + "    response_window: {email: 2d}\n",
     lambda c: c.actions[0].response_window == {"email": 2 * DAY}),
    (A1, A1 + "    response_window: 30m\n",
     lambda c: c.actions[0].response_window == {"web": 1800.0, "email": 1800.0}),
    (A1, A1 + '    coupon: RUN15\n    deep_link: "https://x/{{ coupon }}"\n',
     lambda c: (c.actions[0].coupon, c.actions[0].deep_link.source, c.actions[0].deep_link.line,
                c.actions[0].deep_link.field) == ("RUN15", "https://x/{{ coupon }}", 30,
                                                  "actions[0].deep_link")),
    (A1, A1 + "    reward: {}\n",  # an action's reward defaults to the catalog's outcomes
     lambda c: (c.actions[0].outcomes.respond, c.actions[0].outcomes.convert) == (
         frozenset({"Promotion Clicked"}), {"Order Completed": "revenue"})),
    (A1, A1 + "    reward: {respond: [Signed Up]}\n",
     lambda c: (c.actions[0].outcomes.respond, c.actions[0].outcomes.convert) == (
         frozenset({"Signed Up"}), {"Order Completed": "revenue"})),
    (A1, A1 + "    reward: {convert: {Signed Up: 3}}\n",
     lambda c: (c.actions[0].outcomes.respond, c.actions[0].outcomes.convert) == (
         frozenset({"Promotion Clicked"}), {"Signed Up": 3.0})),
    (A1, A1 + '    context_weights:\n      - {when: "rain > 0", weight: 1.3}\n'
     '      - {when: ["orders >= 1", "revenue > 9"], weight: 0}\n',
     lambda c: [(len(p), w) for p, w in c.actions[0].context_weights] == [(1, 1.3), (2, 0.0)]),
    (END, END + "  - id: a2\n    channels: email\n    stages: lapsed\n    triggers: [inactivity]\n"
     "    messages: {email: {subject: \"S\", body: \"B\"}}\n",
     lambda c: (c.actions[1].channels, c.actions[1].stages, c.actions[1].triggers,
                c.actions[1].messages["email"].subject.source) == (
         ("email",), frozenset({2}), frozenset({"inactivity"}), "S")),
])
def test_accepted_variants(old, new, check):
    assert check(_parse(_edit(old, new)))


def _unknown() -> float:
    return REGISTRY.get_sample_value("journey_unknown_categories_total") or 0.0


def test_an_undeclared_category_is_a_bucket_when_no_category_is_declared():
    before = _unknown()
    cat = _parse(MINIMAL.replace("  - id: a1\n", "  - id: a1\n    category: Garden\n"))
    # blake2b-64 of "garden", big-endian, mod 16 = 15
    assert (cat.actions[0].category, cat.actions[0].category_index) == ("~15", 15)
    assert _unknown() == before  # a catalog's own strings are not unknown event categories


def test_an_actions_reward_falls_back_to_the_catalogs_own_outcomes():
    text = _edit("{respond: [Promotion Clicked], convert: {Order Completed: revenue}}",
                 "{respond: [Clicked], convert: {Paid: 4}}")
    cat = _parse(text.replace(A1, A1 + "    reward: {convert: {Signed Up: total}}\n"))
    assert (cat.actions[0].outcomes.respond, cat.actions[0].outcomes.convert) == (
        frozenset({"Clicked"}), {"Signed Up": "total"})
    cat = _parse(text.replace(A1, A1 + "    reward: {respond: [Replied]}\n"))
    assert (cat.actions[0].outcomes.respond, cat.actions[0].outcomes.convert) == (
        frozenset({"Replied"}), {"Paid": 4.0})
    assert cat.outcomes_of(cat.actions[0]) is cat.actions[0].outcomes


def test_products_and_items(tmp_path):
    (tmp_path / "p.jsonl").write_text(
        '{"id": "s1", "name": "Shoe", "category": "sneakers", "price": 80}\n'
        '{"id": "k1", "name": "Sock", "category": "Garden", "price": 5}\n')
    text = _edit("world:\n", "world:\n  products: p.jsonl\n").replace(
        A1, A1 + "    items: {source: viewed, limit: 2, min: 1}\n")
    before = _unknown()
    cat = parse_catalog(text, "p.yaml", base=tmp_path)
    assert _unknown() == before  # the product file's categories are not event categories
    assert cat.actions[0].items is not None
    assert (cat.actions[0].items.source, cat.actions[0].items.limit,
            cat.actions[0].items.min) == ("viewed", 2, 1)
    # product categories map through the world: declared alias, else a bucket (~3 for
    # "garden" with 4 buckets)
    assert [(i.id, i.category) for i in cat.products] == [("s1", "shoes"), ("k1", "~3")]
    cat = parse_catalog(text.replace("{source: viewed, limit: 2, min: 1}", "{source: popular}"),
                        "p.yaml", base=tmp_path)
    assert (cat.actions[0].items.limit, cat.actions[0].items.min) == (3, 0)
    # without hash buckets an undeclared product category has no index: rejected
    with pytest.raises(CatalogError) as e:
        parse_catalog(text.replace("category_buckets: 4", "category_buckets: 0"), "p.yaml",
                      base=tmp_path)
    assert str(e.value) == f"{tmp_path / 'p.jsonl'}:2: category: the vocabulary mapped " \
                           "'Garden' to ''"
    with pytest.raises(CatalogError) as e:
        parse_catalog(text, "p.yaml")  # relative to the working directory: not found
    assert str(e.value) == ("p.jsonl: products file not found (world.products is relative to "
                            "the catalog file)")


# ------------------------------------------------------------------ every error, exactly


ERRORS = [
    # root and defaults
    ("", "- a\n", "p.yaml:1: <root>: expected a mapping, got list"),
    (END, END + "colour: red\n",
     "p.yaml:37: colour: unknown field 'colour'; expected one of ['actions', 'channels', "
     "'contact_policy', 'defaults', 'learning', 'lifecycle', 'outcomes', 'placements', "
     "'triggers', 'version', 'world']"),
    ("defaults: {cooldown: 1d, attribution_window: 3d}", "defaults: 1d",
     "p.yaml:2: defaults: expected a mapping, got str"),
    ("attribution_window: 3d}", "attribution_window: 3d, colour: red}",
     "p.yaml:2: defaults.colour: unknown field 'colour'; expected one of "
     "['attribution_window', 'cooldown', 'response_window', 'suppress_after_ignores']"),
    ("attribution_window: 3d}", "attribution_window: 3d, response_window: x}",
     f"p.yaml:2: defaults.response_window: {DURATION} 'x'"),
    ("attribution_window: 3d}", "attribution_window: 3d, response_window: 4d}",
     "p.yaml:2: defaults.response_window: must not exceed attribution_window"),
    ("attribution_window: 3d}", "attribution_window: 1d, response_window: 2d}",
     "p.yaml:2: defaults.response_window: must not exceed attribution_window"),
    ("attribution_window: 3d}", "attribution_window: soon}",
     f"p.yaml:2: defaults.attribution_window: {DURATION} 'soon'"),
    ("{cooldown: 1d,", "{cooldown: x,", f"p.yaml:28: actions[0].cooldown: {DURATION} 'x'"),
    ("{cooldown: 1d,", "{suppress_after_ignores: x,",
     "p.yaml:28: actions[0].suppress_after_ignores: expected a number >= 0.0, got 'x'"),
    # world
    (BASE[BASE.index("world:"):BASE.index("channels:")], "world: [x]\n",
     "p.yaml:3: world: expected a mapping, got list"),
    ("  category_buckets: 4\n", "  category_buckets: 4\n  colour: red\n",
     "p.yaml:8: world.colour: unknown field 'colour'; expected one of ['categories', "
     "'category_buckets', 'kinds', 'products', 'traits']"),
    ("  categories:\n    shoes: {label: Shoes, aliases: [sneakers]}\n    socks: {}\n",
     "  categories: [shoes, 3]\n", "p.yaml:4: world.categories: expected a non-empty list of "
     "names"),
    ("  categories:\n    shoes: {label: Shoes, aliases: [sneakers]}\n    socks: {}\n",
     "  categories: shoes\n", "p.yaml:4: world.categories: expected a mapping, got str"),
    ("    shoes: {label", "    Shoes: {label",
     "p.yaml:5: world.categories.Shoes: category id must be snake_case [a-z0-9_], got 'Shoes'"),
    ("    socks: {}\n", "    7: {}\n",
     "p.yaml:5: world.categories[7]: category id must be snake_case [a-z0-9_], got 7"),
    ("    socks: {}\n", "    socks: cotton\n",
     "p.yaml:6: world.categories.socks: expected a mapping, got str"),
    ("    socks: {}\n", "    socks: {colour: red}\n",
     "p.yaml:6: world.categories.socks.colour: unknown field 'colour'; expected one of "
     "['aliases', 'label']"),
    ("aliases: [sneakers]", "aliases: [1]",
     "p.yaml:5: world.categories.shoes.aliases: expected a list of names"),
    ("aliases: [sneakers]", "aliases: [socks]",
     "p.yaml:5: world.categories: 'socks' maps to both 'shoes' and 'socks': give it to one "
     "category"),
    ("aliases: [sneakers]", 'aliases: ["-"]',
     "p.yaml:5: world.categories: category 'shoes': alias '-' is empty once normalized"),
    ("  category_buckets: 4\n", "  category_buckets: x\n",
     "p.yaml:7: world.category_buckets: expected a number >= 0.0, got 'x'"),
    ("  category_buckets: 4\n", "  category_buckets: -1\n",
     "p.yaml:7: world.category_buckets: expected a number >= 0.0, got -1"),
    ("  category_buckets: 4\n", "  kinds: [offer, 3]\n",
     "p.yaml:7: world.kinds: expected a non-empty list of names"),
    ("  category_buckets: 4\n", "  products: 5\n",
     "p.yaml:7: world.products: expected a file path (.jsonl or .csv)"),
    ("    - {name: plan, from: traits.plan, type: categorical, values: [basic, plus]}",
     "    - plan", "p.yaml:9: world.traits[0]: expected a mapping, got str"),
    ("values: [basic, plus]}", "values: [basic, plus], unit: x}",
     "p.yaml:9: world.traits[0].unit: unknown field 'unit'; expected one of ['event', 'from', "
     "'name', 'type', 'values']"),
    ("{name: plan,", "{name: Plan,",
     "p.yaml:9: world.traits[0].name: trait name must be snake_case, got 'Plan'"),
    ("{name: plan,", "{",
     "p.yaml:9: world.traits[0].name: trait name must be snake_case, got None"),
    ("from: traits.plan", "from: plan",
     "p.yaml:9: world.traits[0].from: expected 'traits.X', 'properties.X' or 'context.X', "
     "got 'plan'"),
    ("from: traits.plan", "from: user.plan",
     "p.yaml:9: world.traits[0].from: expected 'traits.X', 'properties.X' or 'context.X', "
     "got 'user.plan'"),
    ("from: traits.plan", "from: 5",
     "p.yaml:9: world.traits[0].from: expected 'traits.X', 'properties.X' or 'context.X', "
     "got 5"),
    ("type: categorical", "type: text",
     "p.yaml:9: world.traits[0].type: type must be one of ('numeric', 'boolean', "
     "'categorical', 'ordinal'), got 'text'"),
    ("values: [basic, plus]", "values: [1]",
     "p.yaml:9: world.traits[0].values: expected a list of names"),
    (", values: [basic, plus]", "",
     "p.yaml:9: world.traits[0].values: a trait of type categorical needs its values "
     "listed"),
    ("type: categorical, values: [basic, plus]", "type: ordinal, values: []",
     "p.yaml:9: world.traits[0].values: a trait of type ordinal needs its values listed"),
    ("values: [basic, plus]}\n", "values: [basic, plus]}\n    - {name: plan, from: traits.p}\n",
     "p.yaml:9: world.traits: duplicate trait 'plan'"),
    # channels
    ("channels:\n  web: {cost: 0}\n  email: {cost: 0.1, opt_in: true, outbound: true, cap: "
     "{count: 2, window: 1d}}\n", "", "p.yaml:1: channels: expected a mapping, got NoneType"),
    ("channels:\n  web: {cost: 0}\n  email: {cost: 0.1, opt_in: true, outbound: true, cap: "
     "{count: 2, window: 1d}}\n", "channels: {}\n", "p.yaml:10: channels: declare at least one "
     "channel"),
    ("  email: {cost", "  Email: {cost",
     "p.yaml:12: channels.Email: channel names are snake_case [a-z0-9_], got 'Email'"),
    ("  web: {cost: 0}", "  web: free", "p.yaml:11: channels.web: expected a mapping, got str"),
    ("  web: {cost: 0}", "  web: {cost: 0, colour: red}",
     "p.yaml:11: channels.web.colour: unknown field 'colour'; expected one of ['cap', 'cost', "
     "'format', 'opt_in', 'outbound', 'quiet_hours', 'response_window']"),
    ("cap: {count: 2, window: 1d}", "cap: 2",
     "p.yaml:12: channels.email.cap: expected a mapping, got int"),
    ("  web: {cost: 0}", "  web: {cost: 0, format: pdf}",
     "p.yaml:11: channels.web.format: format is 'text' or 'html', got 'pdf'"),
    ("opt_in: true", "opt_in: yes",  # YAML 1.2: `yes` is a string, not true
     "p.yaml:12: channels.email.opt_in: expected true or false, got 'yes'"),
    ("outbound: true", "outbound: 1",
     "p.yaml:12: channels.email.outbound: expected true or false, got 1"),
    ("  web: {cost: 0}", "  web: {cost: 0, quiet_hours: null}",
     "p.yaml:11: channels.web.quiet_hours: expected true or false, got None"),
    ("  web: {cost: 0}", "  web: {cost: -1}",
     "p.yaml:11: channels.web.cost: expected a number >= 0.0, got -1"),
    ("cap: {count: 2, window: 1d}", "cap: {count: two, window: 1d}",
     "p.yaml:12: channels.email.cap.count: expected a number >= 0.0, got 'two'"),
    ("cap: {count: 2, window: 1d}", "cap: {count: 2, window: daily}",
     f"p.yaml:12: channels.email.cap.window: {DURATION} 'daily'"),
    ("  web: {cost: 0}", "  web: {cost: 0, response_window: x}",
     f"p.yaml:11: channels.web.response_window: {DURATION} 'x'"),
    ("  web: {cost: 0}", "  web: {cost: 0, response_window: 4d}",
     "p.yaml:11: channels.web.response_window: must not exceed defaults.attribution_window"),
    ("attribution_window: 3d}", "attribution_window: 1h}",  # web answers take 2 h
     "p.yaml:11: channels.web.response_window: must not exceed defaults.attribution_window"),
    ("attribution_window: 3d}", "attribution_window: 3h}",  # email answers take 1 d
     "p.yaml:12: channels.email.response_window: must not exceed "
     "defaults.attribution_window"),
    # contact policy and placements
    ("contact_policy:\n  total_cap: {count: 3, window: 1d}\n  quiet_hours: {start: 21, end: 8}"
     "\n", "contact_policy: 3\n", "p.yaml:13: contact_policy: expected a mapping, got int"),
    ("  quiet_hours: {start: 21, end: 8}\n", "  quiet_hours: {start: 21, end: 8}\n  colour: x\n",
     "p.yaml:16: contact_policy.colour: unknown field 'colour'; expected one of ['quiet_hours', "
     "'total_cap']"),
    ("total_cap: {count: 3, window: 1d}", "total_cap: 3",
     "p.yaml:14: contact_policy.total_cap: expected a mapping, got int"),
    ("quiet_hours: {start: 21, end: 8}", "quiet_hours: night",
     "p.yaml:15: contact_policy.quiet_hours: expected a mapping, got str"),
    ("total_cap: {count: 3,", "total_cap: {count: x,",
     "p.yaml:14: contact_policy.total_cap.count: expected a number >= 0.0, got 'x'"),
    ("total_cap: {count: 3, window: 1d}", "total_cap: {count: 3, window: x}",
     f"p.yaml:14: contact_policy.total_cap.window: {DURATION} 'x'"),
    ("{start: 21, end: 8}", "{start: 25, end: 8}",
     "p.yaml:15: contact_policy.quiet_hours.start: expected a number in [0.0, 24], got 25"),
    ("{start: 21, end: 8}", "{start: 21, end: -1}",
     "p.yaml:15: contact_policy.quiet_hours.end: expected a number in [0.0, 24], got -1"),
    ("placements: {home: [web]}", "placements: [web]",
     "p.yaml:16: placements: expected a mapping, got list"),
    ("home: [web]", "home: [fax]",
     f"p.yaml:16: placements.home[0]: unknown name 'fax'; expected one of {CHANNELS}"),
    ("home: [web]", "home: []",
     f"p.yaml:16: placements.home: expected a non-empty list of names from {CHANNELS}"),
    # triggers
    ("triggers:\n  cart_abandoned: {on: [Product Added], delay: 1h, cancel_on: [Order "
     "Completed]}\n", "triggers: [cart_abandoned]\n",
     "p.yaml:17: triggers: expected a mapping, got list"),
    ("  cart_abandoned: {on", "  Cart: {on",
     "p.yaml:18: triggers.Cart: trigger names are snake_case and not one of ('request', "
     "'stage_change', 'inactivity')"),
    ("  cart_abandoned: {on", "  request: {on",
     "p.yaml:18: triggers.request: trigger names are snake_case and not one of ('request', "
     "'stage_change', 'inactivity')"),
    ("  cart_abandoned: {on: [Product Added], delay: 1h, cancel_on: [Order Completed]}",
     "  cart_abandoned: soon", "p.yaml:18: triggers.cart_abandoned: expected a mapping, got "
     "str"),
    ("cancel_on: [Order Completed]}", "cancel_on: [Order Completed], colour: red}",
     "p.yaml:18: triggers.cart_abandoned.colour: unknown field 'colour'; expected one of "
     "['cancel_on', 'delay', 'on', 'send_window', 'when']"),
    ("{on: [Product Added], ", "{",
     "p.yaml:18: triggers.cart_abandoned.on: expected a non-empty list of names"),
    ("delay: 1h", "delay: soon", f"p.yaml:18: triggers.cart_abandoned.delay: {DURATION} 'soon'"),
    ("cancel_on: [Order Completed]", "cancel_on: [1]",
     "p.yaml:18: triggers.cart_abandoned.cancel_on: expected a list of names"),
    ("cancel_on: [Order Completed]}", 'cancel_on: [Order Completed], when: "cart_value > '
     'orders"}', "p.yaml:18: triggers.cart_abandoned.when: compare a feature with a number: "
     "'cart_value > orders'"),
    ("cancel_on: [Order Completed]}", "cancel_on: [Order Completed], send_window: {start: 9, "
     "end: 25}}", "p.yaml:18: triggers.cart_abandoned.send_window.end: expected a number in "
     "[0.0, 24], got 25"),
    # outcomes
    ("outcomes: {respond: [Promotion Clicked], convert: {Order Completed: revenue}}",
     "outcomes: 3", "p.yaml:19: outcomes: expected a mapping, got int"),
    ("convert: {Order Completed: revenue}}", "convert: {Order Completed: revenue}, colour: x}",
     "p.yaml:19: outcomes.colour: unknown field 'colour'; expected one of ['convert', "
     "'respond']"),
    ("respond: [Promotion Clicked]", "respond: []",
     "p.yaml:19: outcomes.respond: expected a non-empty list of names"),
    ("convert: {Order Completed: revenue}", "convert: revenue",
     "p.yaml:19: outcomes.convert: expected a mapping, got str"),
    ("convert: {Order Completed: revenue}", "convert: {Order Completed: true}",
     "p.yaml:19: outcomes.convert.Order Completed: expected a number >= 0.0, got True"),
    ("convert: {Order Completed: revenue}", "convert: {Order Completed: ''}",
     "p.yaml:19: outcomes.convert.Order Completed: expected a number >= 0.0, got ''"),
    ("convert: {Order Completed: revenue}", "convert: {Order Completed: -1}",
     "p.yaml:19: outcomes.convert.Order Completed: expected a number >= 0.0, got -1"),
    # lifecycle and learning
    (BASE[BASE.index("lifecycle:"):BASE.index("learning:")], "lifecycle: 3\n",
     "p.yaml:20: lifecycle: expected a mapping, got int"),
    ("  on_inactivity: lapsed\n", "  on_inactivity: lapsed\n  colour: red\n",
     "p.yaml:26: lifecycle.colour: unknown field 'colour'; expected one of ['initial', "
     "'on_inactivity', 'stages', 'transitions']"),
    ("  stages: [new, active, lapsed]\n", "",
     "p.yaml:21: lifecycle.stages: expected a non-empty list of names"),
    ("[new, active, lapsed]", "[new, Active, lapsed]",
     "p.yaml:21: lifecycle.stages: stage names are snake_case, got 'Active'"),
    ("  on_inactivity: lapsed\n", "  initial: gone\n",
     f"p.yaml:25: lifecycle.initial[0]: unknown name 'gone'; expected one of {STAGES}"),
    ("    - {on: [Order Completed], to: active}", "    - active",
     "p.yaml:23: lifecycle.transitions[0]: expected a mapping, got str"),
    ("to: active}", "to: active, when: x}",
     "p.yaml:23: lifecycle.transitions[0].when: unknown field 'when'; expected one of "
     "['after', 'from', 'on', 'to']"),
    ("to: active}", "to: gone}",
     f"p.yaml:23: lifecycle.transitions[0].to[0]: unknown name 'gone'; expected one of "
     f"{STAGES}"),
    (", to: active}", "}",
     f"p.yaml:23: lifecycle.transitions[0].to: expected a non-empty list of names from "
     f"{STAGES}"),
    ("{on: [Order Completed], to", "{on: [1], to",
     "p.yaml:23: lifecycle.transitions[0].on: expected a list of names"),
    ("from: [active]", "from: [gone]",
     f"p.yaml:24: lifecycle.transitions[1].from[0]: unknown name 'gone'; expected one of "
     f"{STAGES}"),
    ("after: 30d", "after: soon", f"p.yaml:24: lifecycle.transitions[1].after: {DURATION} "
     "'soon'"),
    ("{on: [Order Completed], to: active}", "{to: active}",
     "p.yaml:23: lifecycle.transitions[0]: a transition needs `on` (events) or `after` (time "
     "in stage)"),
    ("on_inactivity: lapsed", "on_inactivity: gone",
     f"p.yaml:25: lifecycle.on_inactivity[0]: unknown name 'gone'; expected one of {STAGES}"),
    ("learning: {prior_logit_sd: 1.5}", "learning: {prior_sd: 1.5}",
     "p.yaml:26: learning: unknown learner setting 'prior_sd'; see README 'Learning'"),
    ("learning: {prior_logit_sd: 1.5}", "learning: 3",
     "p.yaml:26: learning: expected a mapping, got int"),
    ("learning: {prior_logit_sd: 1.5}", "learning: {column_prior_weight: 0}",
     "p.yaml:26: learning: column_prior_weight must be > 0, got 0; see README 'Learning'"),
    ("learning: {prior_logit_sd: 1.5}", "learning: {memory: .nan}",
     "p.yaml:26: learning: memory must be a finite number, got nan; see README 'Learning'"),
    # actions
    (BASE[BASE.index("actions:"):], "actions: []\n",
     "p.yaml:27: actions: expected a non-empty list of actions"),
    (BASE[BASE.index("actions:"):], "actions: {a1: x}\n",
     "p.yaml:27: actions: expected a non-empty list of actions"),
    (BASE[BASE.index("actions:"):], "",
     "p.yaml:1: actions: expected a non-empty list of actions"),
    (END, END + "  - a2\n", "p.yaml:37: actions[1]: expected a mapping, got str"),
    (A1, A1 + "    colour: red\n",
     "p.yaml:29: actions[0].colour: unknown field 'colour'; expected one of ['attributes', "
     "'attribution_window', 'budget', 'category', 'channels', 'context_weights', 'cooldown', "
     "'cooldown_scope', 'cost', 'coupon', 'deep_link', 'description', 'id', 'items', 'kind', "
     "'lever', 'messages', 'response_window', 'reward', 'stages', 'suppress_after_ignores', "
     "'triggers', 'value', 'when']"),
    ("id: a1", "id: A1", "p.yaml:28: actions[0].id: id must be snake_case [a-z0-9_], got 'A1'"),
    ("id: a1", f"id: {'a' * 65}",
     f"p.yaml:28: actions[0].id: id must be snake_case [a-z0-9_], got '{'a' * 65}'"),
    ("id: a1", "id: 7", "p.yaml:28: actions[0].id: id must be snake_case [a-z0-9_], got 7"),
    (A1, A1 + "    kind: promo\n",
     "p.yaml:29: actions[0].kind: kind must be one of ('offer', 'content', 'message', "
     "'service'), got 'promo'"),
    ("    channels: [web, email]\n", "",
     f"p.yaml:28: actions[0].channels: expected a non-empty list of names from {CHANNELS}"),
    ("stages: [new, active]", "stages: [new, gone]",
     f"p.yaml:30: actions[0].stages[1]: unknown name 'gone'; expected one of {STAGES}"),
    ("triggers: [request, cart_abandoned]", "triggers: [request, browse_abandoned]",
     "p.yaml:31: actions[0].triggers[1]: unknown name 'browse_abandoned'; expected one of "
     "['cart_abandoned', 'inactivity', 'request', 'stage_change']"),
    ("cost: {email: 0.2}", "cost: {sms: 0.2}",
     "p.yaml:33: actions[0].cost.sms: cost for channel 'sms' not in ('web', 'email')"),
    ("cost: {email: 0.2}", "cost: {email: x}",
     "p.yaml:33: actions[0].cost.email: expected a number >= 0.0, got 'x'"),
    ("cost: {email: 0.2}", "cost: 0.2", "p.yaml:33: actions[0].cost: expected a mapping, got "
     "float"),
    ('when: "cart_value > 20"', "when: 5",
     "p.yaml:32: actions[0].when: expected an expression string or a list of them"),
    ('when: "cart_value > 20"', 'when: ["cart_value > 20", 5]',
     "p.yaml:32: actions[0].when[1]: expected an expression string, got 5"),
    ('when: "cart_value > 20"', 'when: "cart_value > 20 or orders > 1"',
     "p.yaml:32: actions[0].when: `or` is not supported in 'cart_value > 20 or orders > 1': "
     "split it into separate actions or rules"),
    ('when: "cart_value > 20"', 'when:\n      - "cart_value > 20"\n      - "orders"\n'
     '      - "orders > cart_value"',
     "p.yaml:35: actions[0].when[2]: compare a feature with a number: 'orders > cart_value'"),
    (A1, A1 + "    context_weights: [x]\n",
     "p.yaml:29: actions[0].context_weights[0]: expected a mapping, got str"),
    (A1, A1 + '    context_weights: [{when: "rain > 0", weight: 1, colour: red}]\n',
     "p.yaml:29: actions[0].context_weights[0].colour: unknown field 'colour'; expected one of "
     "['weight', 'when']"),
    (A1, A1 + "    context_weights: [{weight: 1.2}]\n",
     "p.yaml:29: actions[0].context_weights[0].when: expected an expression string or a list "
     "of them"),
    (A1, A1 + '    context_weights: [{when: "rain > 0"}]\n',
     "p.yaml:29: actions[0].context_weights[0].weight: expected a number >= 0.0, got None"),
    (A1, A1 + "    category: 5\n", "p.yaml:29: actions[0].category: category must be a string"),
    (A1, A1 + "    category: boots\n",
     "p.yaml:29: actions[0].category: 'boots' is not a declared category (or alias); declare "
     "it under world.categories"),
    (A1, A1 + "    category: Garden > Tools\n",  # hashes into the first bucket, ~0
     "p.yaml:29: actions[0].category: 'Garden > Tools' is not a declared category (or alias); "
     "declare it under world.categories"),
    (A1, A1 + "    attributes: {tier: true}\n",
     "p.yaml:29: actions[0].attributes.tier: attribute values are numbers or strings"),
    (A1, A1 + "    attributes: {tier: [1]}\n",
     "p.yaml:29: actions[0].attributes.tier: attribute values are numbers or strings"),
    (A1, A1 + "    attributes: [x]\n",
     "p.yaml:29: actions[0].attributes: expected a mapping, got list"),
    (A1, A1 + "    attributes: {discount: 1.5}\n",
     "p.yaml:29: actions[0].attributes.discount: expected a number in [0.0, 1.0], got 1.5"),
    (A1, A1 + "    attributes: {discount: half}\n",
     "p.yaml:29: actions[0].attributes.discount: expected a number in [0.0, 1.0], got 'half'"),
    (A1, A1 + "    cooldown_scope: global\n",
     "p.yaml:29: actions[0].cooldown_scope: 'action' or 'channel', got 'global'"),
    (A1, A1 + "    response_window: {sms: 1h}\n",
     "p.yaml:29: actions[0].response_window.sms: not a channel of 'a1'"),
    (A1, A1 + "    response_window: {email: x}\n",
     f"p.yaml:29: actions[0].response_window.email: {DURATION} 'x'"),
    (A1, A1 + "    response_window: x\n",
     f"p.yaml:29: actions[0].response_window: {DURATION} 'x'"),
    (A1, A1 + "    items: viewed\n", "p.yaml:29: actions[0].items: expected a mapping, got str"),
    (A1, A1 + "    items: {source: viewed, colour: red}\n",
     "p.yaml:29: actions[0].items.colour: unknown field 'colour'; expected one of ['limit', "
     "'min', 'source']"),
    (A1, A1 + "    items: {source: liked}\n",
     "p.yaml:29: actions[0].items.source[0]: unknown name 'liked'; expected one of ['added', "
     "'bought', 'complements', 'new_arrivals', 'popular', 'viewed']"),
    (A1, A1 + "    items: {source: viewed, limit: 0}\n",
     "p.yaml:29: actions[0].items.limit: expected a number >= 1, got 0"),
    (A1, A1 + "    items: {source: viewed, min: -1}\n",
     "p.yaml:29: actions[0].items.min: expected a number >= 0.0, got -1"),
    (A1, A1 + "    items: {source: viewed}\n",
     "p.yaml:29: actions[0].items: items need a product file: set world.products"),
    (A1, A1 + "    coupon: 5\n", "p.yaml:29: actions[0].coupon: expected a string"),
    (A1, A1 + "    deep_link: 5\n", "p.yaml:29: actions[0].deep_link: expected a string"),
    (A1, A1 + "    value: -1\n", "p.yaml:29: actions[0].value: expected a number >= 0.0, got -1"),
    (A1, A1 + "    lever: x\n", "p.yaml:29: actions[0].lever: expected a number >= 0.0, got 'x'"),
    (A1, A1 + "    budget: -1\n",
     "p.yaml:29: actions[0].budget: expected a number >= 0.0, got -1"),
    (A1, A1 + "    suppress_after_ignores: x\n",
     "p.yaml:29: actions[0].suppress_after_ignores: expected a number >= 0.0, got 'x'"),
    (A1, A1 + "    attribution_window: x\n",
     f"p.yaml:29: actions[0].attribution_window: {DURATION} 'x'"),
    (A1, A1 + "    reward: {respond: []}\n",
     "p.yaml:29: actions[0].reward.respond: expected a non-empty list of names"),
    # messages
    ('    messages:\n      web: "Hi"\n      email: "Mail"\n', "    messages: Hi\n",
     "p.yaml:34: actions[0].messages: expected a mapping, got str"),
    (END, "", "p.yaml:35: actions[0].messages: missing message template for channel 'email'"),
    (END, '      email: ""\n',
     "p.yaml:35: actions[0].messages: missing message template for channel 'email'"),
    (END, '      email: "{{ x | pluralise }}"\n',
     "p.yaml:36: actions[0].messages.email: unknown filter 'pluralise'; did you mean 'pluralize'? "
     "(Journey's filters: ['fixed', 'money', 'percent', 'pluralize'] and Liquid's standard "
     "ones)"),
    (END, '      email:\n        subject: "Hi"\n        body: "{{ x | pluralise }}"\n',
     "p.yaml:38: actions[0].messages.email.body: unknown filter 'pluralise'; did you mean "
     "'pluralize'? (Journey's filters: ['fixed', 'money', 'percent', 'pluralize'] and Liquid's "
     "standard ones)"),
    (END, '      email:\n        subject: "{{ x | pluralise }}"\n        body: "B"\n',
     "p.yaml:37: actions[0].messages.email.subject: unknown filter 'pluralise'; did you mean "
     "'pluralize'? (Journey's filters: ['fixed', 'money', 'percent', 'pluralize'] and Liquid's "
     "standard ones)"),
    (A1, A1 + '    deep_link: "{{ x | pluralise }}"\n',
     "p.yaml:29: actions[0].deep_link: unknown filter 'pluralise'; did you mean 'pluralize'? "
     "(Journey's filters: ['fixed', 'money', 'percent', 'pluralize'] and Liquid's standard "
     "ones)"),
    (END, END + A1 + '    channels: [web]\n    messages: {web: "x"}\n',
     "p.yaml:37: actions[1].id: duplicate action id 'a1'"),
]


@pytest.mark.parametrize(("old", "new", "message"), ERRORS)
def test_every_error_names_file_line_field_and_why(old, new, message):
    assert _error(_edit(old, new) if old else new) == message


def test_too_many_triggers_for_the_kernels_bit_masks():
    many = "".join(f"  t{i}: {{on: [E{i}]}}\n" for i in range(29))  # 3 built in + 29 = 32
    text = _edit("  cart_abandoned: {on: [Product Added], delay: 1h, cancel_on: [Order "
                 "Completed]}\n", many).replace("cart_abandoned]", "t0]")
    assert _error(text) == "p.yaml: at most 31 triggers and 31 stages (the kernel's bit masks)"
    assert len(_parse(text.replace("  t28: {on: [E28]}\n", "")).trigger_names) == 31
