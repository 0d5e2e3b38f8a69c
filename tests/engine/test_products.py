"""The product catalog: JSONL and CSV loaders, every load error, and the item selections."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.copurchase import CoPurchase
from engine.products import ITEM_SOURCES, Item, ProductCatalog, RecentItems, load_products
from features.errors import CatalogError

VOCAB = {"Women > Running > Shoes": "womens_running_shoes", "Running > Socks": "running_socks",
         "Running > Hydration": "hydration", "Women > Running > Apparel": "womens_apparel"}


def categorize(text: str) -> str:
    return VOCAB[text]


def ts(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


ROWS = [
    {"id": "shoe-a", "name": "Aurora Glide 3 Women's", "category": "Women > Running > Shoes",
     "price": 140.0, "url": "https://shop.example/p/shoe-a", "image": "https://img/a.jpg",
     "added_at": "2026-03-01", "discount": 0.15, "complements": ["sock-1", "flask-1"],
     "attributes": {"brand": "Fleetfoot", "drop_mm": 8}},
    {"id": "shoe-b", "name": "Tempo Flux Women's", "category": "Women > Running > Shoes",
     "price": 130, "added_at": "2026-04-10", "discount": 0.2, "complements": ["sock-2"]},
    {"id": "shoe-c", "name": "Cirrus Run 9 Women's", "category": "Women > Running > Shoes",
     "price": 120, "added_at": "2026-04-12T08:30:00+01:00"},
    {"id": "sock-1", "name": "Cushioned Running Socks", "category": "Running > Socks",
     "price": 14},
    {"id": "sock-2", "name": "Merino Trail Socks", "category": "Running > Socks", "price": 18,
     "added_at": "2026-04-01"},
    {"id": "flask-1", "name": "Soft Flask 500ml", "category": "Running > Hydration",
     "price": 22.5},
    {"id": "tee-1", "name": "Breeze Tee", "category": "Women > Running > Apparel", "price": 35,
     "added_at": "2026-04-11"},
]


def write_jsonl(tmp_path: Path, rows: list, name: str = "products.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


@pytest.fixture
def products(tmp_path: Path) -> ProductCatalog:
    return load_products(write_jsonl(tmp_path, ROWS), categorize)


# ---------------------------------------------------------------------------- loading


def test_jsonl_loads_every_field(products: ProductCatalog):
    a = products.get("shoe-a")
    assert a == Item(id="shoe-a", name="Aurora Glide 3 Women's", category="womens_running_shoes",
                     price=140.0, url="https://shop.example/p/shoe-a", image="https://img/a.jpg",
                     discount=0.15, attributes={"brand": "Fleetfoot", "drop_mm": 8},
                     added_at=ts("2026-03-01"), complements=("sock-1", "flask-1"),
                     shop_category="Women > Running > Shoes")
    assert products.get("shoe-c").added_at == ts("2026-04-12T07:30:00")
    assert len(products) == 7 and "sock-1" in products and "nope" not in products
    assert products.categories == {"womens_running_shoes", "running_socks", "hydration",
                                   "womens_apparel"}


def test_csv_loads_with_split_complements_and_extra_columns_as_attributes(tmp_path: Path):
    p = tmp_path / "products.csv"
    p.write_text(
        "id,name,category,price,url,image,added_at,discount,complements,brand,drop_mm,"
        "weight_g\n"
        'shoe-a,"Aurora Glide 3, Women\'s",Women > Running > Shoes,140,https://s/a,,'
        "2026-03-01,0.15,sock-1; flask-1,Fleetfoot,8,231.5\n"
        "\n"
        "sock-1,Cushioned Running Socks,Running > Socks,14,,,,,,Fleetfoot,,\n"
        "flask-1,Soft Flask,Running > Hydration,22.5,,,,,,,,007\n")
    cat = load_products(p, categorize)
    a, s, f = cat.get("shoe-a"), cat.get("sock-1"), cat.get("flask-1")
    assert a.name == "Aurora Glide 3, Women's" and a.price == 140.0 and a.discount == 0.15
    assert a.complements == ("sock-1", "flask-1") and a.image is None
    assert a.attributes == {"brand": "Fleetfoot", "drop_mm": 8, "weight_g": 231.5}
    assert s.complements == () and s.added_at is None and s.attributes == {"brand": "Fleetfoot"}
    assert f.attributes == {"weight_g": "007"}


def test_csv_attributes_column_is_json_and_merges_with_extra_columns(tmp_path: Path):
    p = tmp_path / "p.csv"
    p.write_text('id,name,category,price,attributes,color\n'
                 'sock-1,Socks,Running > Socks,9,"{""cushion"": ""high""}",red\n')
    assert load_products(p, categorize).get("sock-1").attributes == {"cushion": "high",
                                                                     "color": "red"}


def test_numeric_ids_are_read_as_strings(tmp_path: Path):
    cat = load_products(write_jsonl(tmp_path, [{"id": 1001, "name": "S",
                                                "category": "Running > Socks", "price": 1}]),
                        categorize)
    assert cat.get("1001") is not None


def _jsonl_error(tmp_path: Path, rows: list) -> str:
    with pytest.raises(CatalogError) as e:
        load_products(write_jsonl(tmp_path, rows), categorize)
    return str(e.value)


SOCK = {"id": "s", "name": "Socks", "category": "Running > Socks", "price": 9}


@pytest.mark.parametrize(("bad", "expect"), [
    ({"name": "x", "category": "Running > Socks", "price": 1}, ":2: id: missing required"),
    ({"id": "x", "category": "Running > Socks", "price": 1}, ":2: name: missing required"),
    ({"id": "x", "name": "x", "price": 1}, ":2: category: missing required"),
    ({"id": "x", "name": "x", "category": "Running > Socks"}, ":2: price: missing required"),
    ({**SOCK, "id": "x", "price": -1}, ":2: price: expected a number in [0, 1e+12]"),
    ({**SOCK, "id": "x", "price": "cheap"}, ":2: price: expected a number, got 'cheap'"),
    ({**SOCK, "id": "x", "price": True}, ":2: price: expected a number"),
    ({**SOCK, "id": "x", "discount": 1.5}, ":2: discount: expected a number in [0, 1]"),
    ({**SOCK, "id": "x", "added_at": "last week"}, ":2: added_at: expected an ISO date"),
    ({**SOCK, "id": "x", "complements": "s"}, ":2: complements: expected a list"),
    ({**SOCK, "id": "x", "attributes": [1]}, ":2: attributes: expected a JSON object"),
    ({**SOCK, "id": "x", "category": "Garden > Hoses"}, ":2: category: 'Garden > Hoses' is not"),
    ({**SOCK, "id": "x", "url": 5}, ":2: url: expected a non-empty string"),
    ({**SOCK, "id": "x", "prices": 5}, ":2: prices: unknown field 'prices'"),
    ({**SOCK, "id": "x", "complements": ["ghost"]}, ":2: complements: unknown product 'ghost'"),
    ({**SOCK, "id": "x", "complements": ["x"]}, ":2: complements: 'x' cannot complement itself"),
    ({**SOCK}, ":2: id: duplicate product id 's' (first on line 1)"),
    ('{"id": "x", "name": ', ":2: <row>: not valid JSON"),
    ('["x"]', ":2: <row>: expected a JSON object, got list"),
])
def test_every_jsonl_load_error_names_file_line_and_field(tmp_path: Path, bad, expect):
    msg = _jsonl_error(tmp_path, [SOCK, bad])
    assert msg.startswith(str(tmp_path / "products.jsonl") + expect), msg


@pytest.mark.parametrize(("text", "expect"), [
    ("id,name,category\n", ":1: price: the header row has no 'price' column"),
    ("id,name,category,price,id\ns,S,Running > Socks,1,s\n", ":1: <header>: column names"),
    ("id,name,category,price\ns,S,Running > Socks,1,extra\n", ":2: <row>: 5 fields where"),
    ("id,name,category,price\ns,S,Running > Socks,x\n", ":2: price: expected a number"),
    ("id,name,category,price,complements\ns,S,Running > Socks,1,t\n",
     ":2: complements: unknown product 't'"),
    ("id,name,category,price,attributes\ns,S,Running > Socks,1,{bad\n",
     ":2: attributes: not a JSON object"),
    ('id,name,category,price\n"s\nt",S,Running > Socks,1\nu,U,Running > Socks,-2\n',
     ":4: price: expected a number in"),
    ("id,name,category,price\n", ": no products in the file"),
])
def test_every_csv_load_error_names_file_line_and_field(tmp_path: Path, text, expect):
    p = tmp_path / "p.csv"
    p.write_text(text)
    with pytest.raises(CatalogError) as e:
        load_products(p, categorize)
    assert str(e.value).startswith(str(p) + expect), str(e.value)


def test_a_missing_file_and_a_wrong_suffix_are_errors(tmp_path: Path):
    with pytest.raises(CatalogError, match="products file not found"):
        load_products(tmp_path / "nope.jsonl", categorize)
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(CatalogError, match=r"must be a \.jsonl or \.csv file, got '\.json'"):
        load_products(tmp_path / "p.json", categorize)


def test_an_empty_jsonl_file_is_an_error(tmp_path: Path):
    assert _jsonl_error(tmp_path, ["", "  "]).endswith(": no products in the file")


# ---------------------------------------------------------------------------- items


def test_item_payload_and_scope(products: ProductCatalog):
    a = products.get("shoe-a")
    assert a.to_payload() == {"id": "shoe-a", "name": "Aurora Glide 3 Women's",
                              "url": "https://shop.example/p/shoe-a", "price": 140.0,
                              "image": "https://img/a.jpg"}
    scope = a.to_scope()
    assert scope["sale_price"] == 119.0 and scope["discount"] == 0.15
    assert scope["category"] == "womens_running_shoes"
    scope["attributes"]["brand"] = "changed"
    assert a.attributes["brand"] == "Fleetfoot"


def test_unknown_ids_are_none_and_counted_never_raised(products: ProductCatalog):
    assert products.get("gone") is None
    sel = products.recent(["gone", "shoe-a", "older-gone"], 5)
    assert [i.id for i in sel.items] == ["shoe-a"] and sel.missing == 2


# ---------------------------------------------------------------------------- selections


def test_recent_is_newest_first_and_distinct(products: ProductCatalog):
    sel = products.recent(["shoe-a", "shoe-b", "shoe-a", "shoe-c"], 2)
    assert [i.id for i in sel.items] == ["shoe-c", "shoe-a"]


def test_viewed_with_discount_keeps_the_discounted_models_she_viewed(products: ProductCatalog):
    sel = products.viewed_with_discount(["shoe-a", "shoe-c", "ghost", "shoe-b"], 3)
    assert [(i.id, i.discount) for i in sel.items] == [("shoe-b", 0.2), ("shoe-a", 0.15)]
    assert sel.missing == 1
    assert [i.id for i in products.viewed_with_discount(["shoe-a", "shoe-b"], 1).items] == \
        ["shoe-b"]


def test_new_arrivals_are_newest_first_in_her_categories_since(products: ProductCatalog):
    sel = products.new_arrivals(["womens_running_shoes", "womens_apparel"], ts("2026-04-01"), 5)
    assert [i.id for i in sel.items] == ["shoe-c", "tee-1", "shoe-b"]
    assert [i.id for i in products.new_arrivals(["womens_running_shoes"], ts("2026-04-01"), 1,
                                                exclude={"shoe-c"}).items] == ["shoe-b"]
    assert products.new_arrivals(["hydration"], 0.0, 5).items == ()
    assert products.new_arrivals(["undeclared"], 0.0, 5).items == ()


def test_complements_use_the_declared_prior_before_any_order(products: ProductCatalog):
    sel = products.complements(["shoe-a"], 3)
    assert [i.id for i in sel.items] == ["sock-1", "flask-1"]


def test_complements_never_recommend_what_she_bought(products: ProductCatalog):
    sel = products.complements(["sock-1", "shoe-a"], 5)
    assert [i.id for i in sel.items] == ["flask-1"]


def test_learned_co_purchases_outrank_the_prior_once_frequent(products: ProductCatalog):
    learned = CoPurchase()
    for _ in range(3):
        learned.observe_order(["shoe-a", "tee-1"])
    sel = products.complements(["shoe-a"], 3, learned)
    assert [i.id for i in sel.items] == ["tee-1", "sock-1", "flask-1"]
    assert [i.id for i in products.complements(["shoe-a"], 3, learned, prior=5.0).items] == \
        ["sock-1", "flask-1", "tee-1"]


def test_complements_count_unknown_bought_ids_and_skip_unknown_candidates(
        products: ProductCatalog):
    learned = CoPurchase()
    learned.observe_order(["retired-shoe", "sock-2", "discontinued-sock"])
    sel = products.complements(["retired-shoe"], 5, learned)
    assert [i.id for i in sel.items] == ["sock-2"] and sel.missing == 1


def test_popular_ranks_by_orders_then_newest(products: ProductCatalog):
    assert [i.id for i in products.popular("womens_running_shoes", 3).items] == \
        ["shoe-c", "shoe-b", "shoe-a"]
    learned = CoPurchase()
    learned.observe_order(["shoe-a"])
    learned.observe_order(["shoe-a", "sock-1"])
    assert [i.id for i in products.popular("womens_running_shoes", 2, learned).items] == \
        ["shoe-a", "shoe-c"]
    assert [i.id for i in products.popular(None, 2, learned, exclude={"shoe-a"}).items] == \
        ["sock-1", "shoe-c"]


def test_select_dispatches_every_declared_source(products: ProductCatalog):
    recent = RecentItems(viewed=["shoe-a", "shoe-c"], added=["shoe-b"], bought=["shoe-a"])
    got = {s: [i.id for i in products.select(
        s, recent, 2, categories=["womens_running_shoes"], since_ts=ts("2026-04-01")).items]
        for s in ITEM_SOURCES}
    assert got == {"viewed": ["shoe-c", "shoe-a"], "added": ["shoe-b"], "bought": ["shoe-a"],
                   "complements": ["sock-1", "flask-1"], "new_arrivals": ["shoe-c", "shoe-b"],
                   "popular": ["shoe-c", "shoe-b"]}
    with pytest.raises(ValueError, match="unknown item source 'wishlist'"):
        products.select("wishlist", recent, 2)


def test_the_catalog_pickles(products: ProductCatalog):
    back = pickle.loads(pickle.dumps(products))
    assert back.get("shoe-a") == products.get("shoe-a")
    assert [i.id for i in back.new_arrivals(["womens_running_shoes"], 0.0, 3).items] == \
        ["shoe-c", "shoe-b", "shoe-a"]
