"""The shipped examples: their catalogs load, and the stories they tell come out, decision
by decision, both through `journey replay` and through the in-process `Engine`."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import orjson
import pytest
import yaml

from engine.products import ProductCatalog, load_products
from engine.templates import compile_message, compile_template, message_scope, template_line
from features.decode import decode

REPO = Path(__file__).resolve().parents[2]
SHOES = REPO / "examples" / "running_shoes"
TELCO = REPO / "examples" / "telco"
SCHEMA_V2 = REPO / "engine" / "decision.schema.json"
LONDON = ZoneInfo("Europe/London")



# ---------------------------------------------------------------------------- helpers


def _doc(example: Path) -> dict[str, Any]:
    return yaml.safe_load((example / "catalog.yaml").read_text())


def vocabulary(example: Path) -> Callable[[str], str]:
    """The catalog's declared categories: id, label or alias → id (KeyError otherwise)."""
    table: dict[str, str] = {}
    for cid, spec in _doc(example)["world"]["categories"].items():
        for name in [cid, spec.get("label", cid), *spec.get("aliases", [])]:
            table[" ".join(name.casefold().split())] = cid
    return lambda text: table[" ".join(text.casefold().split())]


def products(example: Path) -> ProductCatalog:
    return load_products(example / _doc(example)["world"]["products"], vocabulary(example))


def events(example: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (example / "events.jsonl").read_bytes().splitlines()]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def event_times(example: Path, name: str, user: str | None = None) -> list[datetime]:
    return [ts(e["timestamp"]) for e in events(example) if e.get("event") == name
            and (user is None or e.get("userId") == user)]


def text_of(d: dict[str, Any]) -> str:
    return html.unescape(f"{d.get('subject') or ''}\n{d['message']}")


def only(ds: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [d for d in ds if all(d.get(k) == v for k, v in match.items())]
    summary = [(d["ts"], d["customer_id"], d["trigger"], d["channel"], d["action_id"])
               for d in ds]
    assert len(found) == 1, f"expected one decision with {match}, got {len(found)}: {summary}"
    return found[0]


def replay_cli(example: Path, tmp_path: Path) -> list[dict[str, Any]]:
    out, dead = tmp_path / "decisions.jsonl", tmp_path / "dead.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay", str(example / "events.jsonl"),
         "--catalog", str(example / "catalog.yaml"), "--out", str(out), "--dead-letters",
         str(dead), "--metrics-port", "0", "--no-progress"],
        cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert not dead.exists() or not dead.read_text().strip(), dead.read_text()[:2000]
    return [orjson.loads(x) for x in out.read_bytes().splitlines() if x.strip()]


def replay_engine(example: Path) -> list[dict[str, Any]]:
    from engine import Engine, load_catalog

    eng = Engine(load_catalog(example / "catalog.yaml"), seed=7)
    out = []
    for e in events(example):
        out += eng.process(e)
    return [d.to_dict() for d in out]


@pytest.fixture(params=["cli", "engine"])
def replay(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Path], list[dict]]:
    if request.param == "cli":
        return lambda example: replay_cli(example, tmp_path)
    return replay_engine


# ---------------------------------------------------------------------------- data (now)


@pytest.mark.parametrize("example", [SHOES, TELCO], ids=["running_shoes", "telco"])
def test_products_load_into_declared_categories(example: Path):
    cat = products(example)
    declared = set(_doc(example)["world"]["categories"])
    assert len(cat) >= 8
    assert cat.categories <= declared
    assert all(cat.get(c) is not None for it in cat for c in it.complements)


def _child(node: yaml.Node, key: Any) -> yaml.Node:
    if isinstance(node, yaml.SequenceNode):
        return node.value[key]
    return next(v for k, v in node.value if k.value == key)


@pytest.mark.parametrize("example", [SHOES, TELCO], ids=["running_shoes", "telco"])
def test_every_example_template_compiles_and_renders(example: Path):
    path = example / "catalog.yaml"
    doc, root = _doc(example), yaml.compose(path.read_text())
    cat = products(example)
    sample = list(cat)[:3]
    html_channels = {n for n, c in doc["channels"].items() if c.get("format") == "html"}
    for i, action in enumerate(doc["actions"]):
        assert set(action["messages"]) == set(action["channels"]), action["id"]
        anode = _child(_child(root, "actions"), i)
        scope = message_scope(
            customer={"first_name": "Ada", "cart_items": 2, "cart_value": 80.0, "orders": 1,
                      "stage": "use", "traits": {"plan": "basic", "tenure_months": 12,
                                                 "data_usage_gb": 9.5, "vip": True}},
            category={"id": "c", "label": "Label"}, items=sample,
            action={"id": action["id"], "kind": action["kind"],
                    "attributes": action.get("attributes", {}),
                    "discount": action.get("attributes", {}).get("discount", 0.0)},
            coupon=action.get("coupon"), channel="email")
        for ch, source in action["messages"].items():
            mnode = _child(_child(anode, "messages"), ch)
            lines = ({k: template_line(_child(mnode, k)) for k in source}
                     if isinstance(source, dict) else template_line(mnode))
            msg = compile_message(source, where=str(path), line=lines,
                                  field=f"actions[{i}].messages.{ch}", html=ch in html_channels)
            out = msg.render(scope)
            assert out.body and "{{" not in out.body and "{%" not in out.body, (action["id"], ch)
            assert (out.subject is not None) == isinstance(source, dict)
        if "deep_link" in action:
            link = compile_template(action["deep_link"], where=str(path), line=1,
                                    field="deep_link").render(scope)
            assert link.startswith("https://") and action.get("coupon", "") in link


def test_running_story_events_name_catalog_products_with_the_story_facts():
    cat = products(SHOES)
    evs = events(SHOES)
    for e in evs:
        decode(orjson.dumps(e))
        p = e.get("properties", {})
        for pid in [p.get("product_id"), *[x.get("product_id") for x in p.get("products", [])]]:
            assert pid is None or pid in cat, pid
    day1 = [e["properties"]["product_id"] for e in evs if e.get("event") == "Product Viewed"
            and ts(e["timestamp"]).astimezone(LONDON).day == 14]
    assert len(set(day1)) == 3
    assert all(cat.get(i).category == "womens_running_shoes" and cat.get(i).discount > 0
               for i in day1)
    [order] = [e for e in evs if e.get("event") == "Order Completed"]
    bought = [x["product_id"] for x in order["properties"]["products"]]
    picks = cat.complements(bought, 3).items
    assert picks and {i.category for i in picks} <= {"running_socks", "hydration"}


def test_telco_events_decode_and_carry_the_ratings():
    evs = events(TELCO)
    for e in evs:
        decode(orjson.dumps(e))
    ratings = {e["userId"]: e["properties"]["rating"] for e in evs
               if e.get("event") == "Ticket Closed"}
    assert ratings == {"cust-1001": 1, "cust-1003": 5}


# ---------------------------------------------------------------------------- core (later)


@pytest.mark.parametrize("example", [SHOES, TELCO], ids=["running_shoes", "telco"])
def test_example_catalogs_load(example: Path):
    from engine import load_catalog

    cat = load_catalog(example / "catalog.yaml")
    assert [a.id for a in cat.actions] == [a["id"] for a in _doc(example)["actions"]]


def test_running_story(replay: Callable[[Path], list[dict]]):
    ds = replay(SHOES)
    cat = products(SHOES)
    schema = json.loads(SCHEMA_V2.read_text())
    for d in ds:
        jsonschema.validate(d, schema)
    coupon = {a["id"]: a.get("coupon") for a in _doc(SHOES)["actions"]}

    # the next morning: the models she viewed, each with its discount
    browse = only(ds, trigger="browse_abandoned")
    assert (browse["action_id"], browse["channel"]) == ("viewed_models_discount", "email")
    viewed_at = event_times(SHOES, "Product Viewed")
    local = ts(browse["ts"]).astimezone(LONDON)
    assert local.date() == viewed_at[0].astimezone(LONDON).date() + timedelta(days=1)
    assert 9 <= local.hour < 11
    viewed = {e["properties"]["product_id"] for e in events(SHOES)
              if e.get("event") == "Product Viewed" and ts(e["timestamp"]) < ts(browse["ts"])}
    assert {i["id"] for i in browse["items"]} == viewed
    lines = text_of(browse).splitlines()
    for pid in viewed:
        item = cat.get(pid)
        pct = f"{round(item.discount * 100)}%"
        assert any(item.name in line and pct in line for line in lines), (item.name, pct, lines)
    assert browse["coupon"] == coupon["viewed_models_discount"]

    # the cart: a web banner, and an hour after she leaves, the email, both free shipping
    banner = only(ds, placement="cart_page")
    assert (banner["action_id"], banner["channel"]) == ("cart_free_shipping", "web")
    cart = only(ds, trigger="cart_abandoned")
    assert (cart["action_id"], cart["channel"]) == ("cart_free_shipping", "email")
    assert re.search(r"free shipping|ships? (them )?free", text_of(cart), re.I), text_of(cart)
    left = max(t for t in event_times(SHOES, "Product Added") + event_times(SHOES,
               "Checkout Started") if t < ts(cart["ts"]))
    assert ts(cart["ts"]) == left + timedelta(hours=1)

    # two days after the order: socks or hydration by name, never what she bought
    [order] = [e for e in events(SHOES) if e.get("event") == "Order Completed"]
    bought = {x["product_id"] for x in order["properties"]["products"]}
    post = only(ds, trigger="post_purchase")
    assert (post["action_id"], post["channel"]) == ("post_purchase_complements", "email")
    assert ts(post["ts"]) == ts(order["timestamp"]) + timedelta(days=2)
    recs = [cat.get(i["id"]) for i in post["items"]]
    assert recs and not {r.id for r in recs} & bought
    assert {r.category for r in recs} <= {"running_socks", "hydration"}
    assert all(r.name in text_of(post) for r in recs)


def test_telco_retention_offer_goes_to_the_at_risk_customer(
        replay: Callable[[Path], list[dict]]):
    ds = replay(TELCO)
    schema = json.loads(SCHEMA_V2.read_text())
    for d in ds:
        jsonschema.validate(d, schema)
    lucia, irene = "cust-1001", "cust-1003"

    callback = only(ds, customer_id=lucia, action_id="support_callback")
    assert (callback["channel"], callback["trigger"], callback["stage"]) == \
        ("call_centre", "stage_change", "at_risk")
    assert ts(callback["ts"]) == event_times(TELCO, "Ticket Opened", lucia)[0]

    offers = [d for d in ds if d["action_id"] == "retention_discount"]
    assert [d["customer_id"] for d in offers] == [lucia]
    offer = offers[0]
    assert (offer["trigger"], offer["stage"], offer["coupon"]) == \
        ("support_follow_up", "at_risk", "STAY25")
    assert offer["channel"] in ("sms", "email", "push")
    assert "25%" in text_of(offer) and "STAY25" in text_of(offer)
    assert ts(offer["ts"]) == event_times(TELCO, "Ticket Closed", lucia)[0] + timedelta(days=1)

    check_in = only(ds, customer_id=irene, trigger="support_follow_up")
    assert check_in["action_id"] == "service_check_in"

