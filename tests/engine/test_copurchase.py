"""Online co-purchase counts: exact while small, bounded, deterministic, picklable."""

from __future__ import annotations

import pickle
import random

import pytest

from engine.copurchase import CoPurchase


def orders(seed: int, n: int, catalog: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[f"p{rng.randrange(catalog)}" for _ in range(rng.randint(1, 5))] for _ in range(n)]


def test_counts_are_exact_below_the_bounds():
    cp = CoPurchase()
    cp.observe_order(["shoe", "sock", "sock", "flask"])
    cp.observe_order(["shoe", "sock"])
    cp.observe_order(["tee"])
    assert cp.neighbors("shoe") == {"sock": 2, "flask": 1}
    assert cp.neighbors("sock") == {"shoe": 2, "flask": 1}
    assert cp.neighbors("tee") == {} and cp.neighbors("unknown") == {}
    assert (cp.orders("shoe"), cp.orders("sock"), cp.orders("tee"), cp.orders("x")) == (2, 2, 1, 0)
    assert len(cp) == 4


def test_neighbors_returns_a_copy():
    cp = CoPurchase()
    cp.observe_order(["a", "b"])
    cp.neighbors("a")["b"] = 99
    assert cp.neighbors("a") == {"b": 1}


def test_non_string_ids_are_ignored():
    cp = CoPurchase()
    cp.observe_order(["a", None, 3, "", "b"])  # type: ignore[list-item]
    assert cp.neighbors("a") == {"b": 1} and len(cp) == 2


def test_memory_stays_bounded_and_frequent_pairs_survive():
    cp = CoPurchase(max_items=50, max_neighbors=4, max_order_items=3)
    for i, order in enumerate(orders(seed=1, n=3000, catalog=400)):
        cp.observe_order(order)
        if i % 3 == 0:
            cp.observe_order(["hot-shoe", "hot-sock"])
    assert len(cp) <= 50
    assert all(len(cp.neighbors(f"p{i}")) <= 4 for i in range(400))
    assert cp.neighbors("hot-shoe")["hot-sock"] >= 1000
    assert cp.orders("hot-shoe") == 1000


def test_space_saving_replaces_the_smallest_count_and_inherits_it():
    cp = CoPurchase(max_neighbors=2)
    cp.observe_order(["a", "b"])
    cp.observe_order(["a", "b"])
    cp.observe_order(["a", "c"])
    cp.observe_order(["a", "d"])  # row full: d replaces c (count 1) and starts at 2
    assert cp.neighbors("a") == {"b": 2, "d": 2}


def test_an_order_counts_only_its_first_distinct_items():
    cp = CoPurchase(max_order_items=2)
    cp.observe_order(["a", "a", "b", "c"])
    assert cp.neighbors("a") == {"b": 1} and cp.orders("c") == 0


def test_deterministic_and_pickling_mid_stream_gives_the_same_result():
    stream = orders(seed=7, n=800, catalog=120)
    whole = CoPurchase(max_items=60, max_neighbors=5)
    for o in stream:
        whole.observe_order(o)
    first = CoPurchase(max_items=60, max_neighbors=5)
    for o in stream[:400]:
        first.observe_order(o)
    resumed = pickle.loads(pickle.dumps(first))
    for o in stream[400:]:
        resumed.observe_order(o)
    ids = [f"p{i}" for i in range(120)]
    assert [resumed.neighbors(i) for i in ids] == [whole.neighbors(i) for i in ids]
    assert [resumed.orders(i) for i in ids] == [whole.orders(i) for i in ids]


@pytest.mark.parametrize("kwargs", [{"max_items": 0}, {"max_neighbors": 0},
                                    {"max_order_items": 1}])
def test_bounds_must_be_positive(kwargs):
    with pytest.raises(ValueError, match="bounds must be positive"):
        CoPurchase(**kwargs)
