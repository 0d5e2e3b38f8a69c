"""The bytewax flow on TestingSource, with 1 and 2 workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import orjson
import pytest
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from features.schema import RawRecord
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings

BAD = [
    (b'{"type": "track", "userId": ', "invalid_json"),
    (b'{"type": "track", "event": "Product Viewed", "timestamp": "2026-03-02T10:00:00Z"}',
     "missing_identity"),
    (b'{"type": "warp", "userId": "u1", "timestamp": "2026-03-02T10:00:00Z"}', "unknown_type"),
    (b'{"type": "track", "event": "Product Added", "userId": "u2", '
     b'"timestamp": "2026-03-02T10:00:00Z", "properties": {"price": "free"}}', "wrong_type"),
    (b'{"type": "page", "userId": "u3", "timestamp": "2099-03-02T10:00:00Z"}',
     "future_timestamp"),
]


def _records(make_event: Callable[..., dict[str, Any]]) -> list[RawRecord]:
    good = []
    for i in range(6):
        user = f"u{i}"
        good += [
            make_event("identify", user=user, anon=f"a{i}", minute=i,
                       traits={"consent": {"email": True}}),
            make_event("track", "Product Added", user=user, minute=i + 1,
                       properties={"price": 40, "quantity": 1, "category": "shoes"}),
            make_event("page", "Cart", user=None, anon=f"a{i}", minute=i + 2,
                       properties={"placement": "cart_page"}),
            make_event("page", "Home", user=user, anon=f"a{i}", minute=i + 3,
                       properties={"placement": "home_hero"}),
        ]
    good.append({"type": "context", "region": "eu-west", "timestamp": "2026-03-02T00:00:00Z",
                 "signals": {"rain": 1}})
    recs = [RawRecord(orjson.dumps(e), "events", "test") for e in good]
    recs += [RawRecord(b, "events", "test") for b, _ in BAD]
    return recs


def _run(make_event: Callable[..., dict[str, Any]], workers: int) -> tuple[list, list, Runtime]:
    settings = Settings(seed=11, progress=False, metrics_port=0)
    rt = Runtime(settings)
    rt.track("test")
    decisions: list[tuple[str, str]] = []
    dead: list[tuple[str, str]] = []
    flow = build_flow(settings, source=TestingSource(_records(make_event)),
                      decisions=TestingSink(decisions), dead_letters=TestingSink(dead),
                      runtime=rt)
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return decisions, dead, rt


@pytest.mark.parametrize("workers", [1, 2])
def test_every_record_is_accounted_for(make_event, workers):
    decisions, dead, rt = _run(make_event, workers)
    assert rt.done("test") == len(_records(make_event))
    assert sorted(orjson.loads(line)["reason"] for _, line in dead) == sorted(r for _, r in BAD)
    assert decisions


@pytest.mark.parametrize("workers", [1, 2])
def test_decisions_match_the_published_schema(make_event, decision_schema, workers):
    decisions, _, _ = _run(make_event, workers)
    for _, line in decisions:
        jsonschema.validate(orjson.loads(line), decision_schema)


def test_one_and_two_workers_make_the_same_decisions(make_event):
    # Each device's events travel one path, so per-customer order (and so every decision)
    # is the same whatever the worker count.
    one = {orjson.loads(line)["decision_id"] for _, line in _run(make_event, 1)[0]}
    two = {orjson.loads(line)["decision_id"] for _, line in _run(make_event, 2)[0]}
    assert one == two


def test_dead_letters_keep_the_original_bytes(make_event):
    _, dead, _ = _run(make_event, 1)
    payloads = {orjson.loads(line)["payload"].encode() for _, line in dead}
    assert payloads == {b for b, _ in BAD}


def test_anonymous_cart_follows_the_customer_after_identify(make_event):
    decisions, _, _ = _run(make_event, 1)
    cart = [orjson.loads(line) for _, line in decisions
            if orjson.loads(line)["placement"] == "cart_page"]
    assert cart and all(d["customer_id"].startswith("u") for d in cart)
