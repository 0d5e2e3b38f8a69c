"""What the collector keeps of a request: authentication first, each event judged on its own,
privileged events (erasure, consent) only from admin keys, a dead-letter budget per source.
Over real HTTP, except the property test, which drives `Collector.handle` directly."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.metrics import DEAD_LETTERS_DROPPED
from features.deadletter import DeadLetter
from features.intake import PRIVILEGED_FIELD
from features.schema import RawRecord
from flows.collector import Collector, DeadLetterBudget, QueueForwarder
from tests.flows import test_collector
from tests.flows.test_collector import _track

KEY, ADMIN = "browser-key", "server-admin-key"


def _post(url: str, path: str, body: Any, *, key: str | None = KEY,
          ) -> tuple[int, dict[str, Any], dict[str, str]]:
    return test_collector._post(url, path, body, key=key)


@pytest.fixture
def queue() -> QueueForwarder:
    return QueueForwarder(capacity=10_000)


@pytest.fixture
def collector(queue: QueueForwarder) -> Iterator[Collector]:
    c = Collector(queue, write_keys=(KEY,), admin_keys=(ADMIN,), port=0,
                  dead_letter_budget=0).start()
    yield c
    c.stop()


def _split(q: QueueForwarder) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    items = q.take(100_000)
    return ([orjson.loads(i.payload) for i in items if isinstance(i, RawRecord)],
            [i for i in items if isinstance(i, DeadLetter)])


@pytest.mark.parametrize("depth", [255, 600, 1015])
def test_a_deeply_nested_event_is_dead_lettered_whole_and_the_rest_accepted(
        collector: Collector, queue: QueueForwarder, depth: int) -> None:
    """orjson reads 1024 levels but writes 254: such an event gave a 500 for its batch."""
    deep = (orjson.dumps(_track(1))[:-1] + b', "note": "a ] and a \\" inside", "deep": '
            + b'{"x": ' * depth + b"1" + b"}" * depth + b"}")
    raw = (b'{"batch": [' + orjson.dumps(_track(0)) + b",\n  " + deep + b", "
           + orjson.dumps(_track(2)) + b"]}")
    status, reply, _ = _post(collector.url, "/v1/batch", raw)
    assert status == 200
    assert [(r["index"], r["code"]) for r in reply["rejected"]] == [(1, "invalid_event")]
    events, dead = _split(queue)
    assert [e["messageId"] for e in events] == ["m-0", "m-2"]
    (d,) = dead
    assert d.payload == deep


def test_a_timestamp_that_cannot_be_corrected_is_dead_lettered_not_a_500(
        collector: Collector, queue: QueueForwarder) -> None:
    odd = _track(1, timestamp="9999-12-31T00:00:00Z")
    body = {"batch": [_track(0), odd], "sentAt": "0001-01-01T00:00:00Z"}
    status, reply, _ = _post(collector.url, "/v1/batch", body)
    assert status == 200 and [r["index"] for r in reply["rejected"]] == [1]
    assert "bad_timestamp" in reply["rejected"][0]["message"]
    events, dead = _split(queue)
    assert len(events) == 1 and orjson.loads(dead[0].payload) == odd


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["2026-03-02T10:00:00Z", "9999-12-31T23:59:59Z",
                                              "0001-01-01T00:00:00Z", "Forget Me", "track",
                                              "Consent Updated", "u-1"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "userId", "anonymousId", "event", "timestamp", "sentAt",
                         "messageId", "properties", "traits", "context", "previousId",
                         "writeKey", PRIVILEGED_FIELD, "consent", "batch", "name"]), inner,
        max_size=6),
    max_leaves=25)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()  # integers beyond 64 bits too


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=st.sampled_from(["batch", "track", "identify", "alias"]),
       body=st.one_of(_json.map(_dumps), st.builds(
           lambda b: _dumps({"batch": b}), st.lists(_json, max_size=5)),
           st.binary(max_size=64)))
def test_nothing_a_client_sends_makes_the_collector_raise(call: str, body: bytes) -> None:
    """Never a 500: every request is answered 200 or 400, and everything it brought is
    either forwarded or dead-lettered."""
    q = QueueForwarder(capacity=1000)
    c = Collector(q, write_keys=(KEY,), port=0, dead_letter_budget=0)
    try:
        auth = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
        status, reply, _ = c.handle(call, body, {"authorization": auth})
    finally:
        c.stop()
    assert status in (200, 400), reply
    assert len(q) == c.counts["acknowledged"] + c.counts["dead_lettered"] >= 1
    assert c.counts["rejected"] == len(reply.get("rejected", []))


def test_unauthenticated_garbage_is_refused_and_nothing_is_stored(
        collector: Collector, queue: QueueForwarder) -> None:
    for body in (b"\x00garbage" * 8000, b"{not json", b"[1, 2]", orjson.dumps(
            {"batch": [{"nonsense": True}] * 50, "writeKey": "guessed"})):
        for key in (None, "wrong"):
            status, reply, _ = _post(collector.url, "/v1/batch", body, key=key)
            assert (status, reply["code"]) == (401, "unauthorized")
    assert len(queue) == 0 and collector.counts["dead_lettered"] == 0


def test_a_body_write_key_is_trusted_only_once_the_body_parses(
        collector: Collector, queue: QueueForwarder) -> None:
    body = {"batch": [_track(1), {"type": "track"}], "writeKey": KEY}
    status, reply, _ = _post(collector.url, "/v1/batch", body, key=None)
    assert status == 200 and [r["index"] for r in reply["rejected"]] == [1]
    events, dead = _split(queue)
    assert len(events) == 1 and len(dead) == 1
    assert KEY.encode() not in dead[0].payload


def test_erasure_and_consent_need_an_admin_key(collector: Collector,
                                               queue: QueueForwarder) -> None:
    ts = _track(0)["timestamp"]
    forged = [
        {"type": "track", "event": "User Deleted", "userId": "victim", "timestamp": ts},
        {"type": "track", "event": "Forget Me", "userId": "victim", "timestamp": ts},
        {"type": "track", "event": "Consent Updated", "userId": "victim", "timestamp": ts,
         "properties": {"email": True, "sms": True}},
    ]
    carrying = [  # ordinary events that carry consent: kept, without the consent
        {"type": "identify", "userId": "victim", "timestamp": ts, "messageId": "m-id",
         "traits": {"consent": {"email": True}, "firstName": "V"}},
        {"type": "page", "userId": "victim", "timestamp": ts, "name": "Home", "messageId": "m-pg",
         "context": {"consent": {"categoryPreferences": {"sms": True}}, "locale": "en"}},
    ]
    plain = _track(9, **{PRIVILEGED_FIELD: True})  # a forged mark is stripped
    body = {"batch": [*forged, *carrying, plain]}
    before = DEAD_LETTERS_DROPPED._value.get()
    status, reply, _ = _post(collector.url, "/v1/batch", body, key=KEY)
    assert status == 200 and reply["accepted"] == 3
    assert [(r["index"], r["code"]) for r in reply["rejected"]] == [
        (i, "not_privileged") for i in range(3)]
    events, dead = _split(queue)
    assert [e["messageId"] for e in events] == ["m-id", "m-pg", "m-9"]
    assert all(PRIVILEGED_FIELD not in e for e in events)
    assert events[0]["traits"] == {"firstName": "V"} and events[1]["context"] == {"locale": "en"}
    assert [d.reason for d in dead] == ["not_privileged"] * 3
    assert [orjson.loads(d.payload) for d in dead] == forged
    assert DEAD_LETTERS_DROPPED._value.get() == before

    fresh = [{**e, "messageId": "admin-" + e["messageId"]} for e in carrying]
    status, reply, _ = _post(collector.url, "/v1/batch", {"batch": [*forged, *fresh]},
                             key=ADMIN)
    assert (status, reply) == (200, {"success": True})
    events, dead = _split(queue)
    assert len(events) == 5 and not dead
    assert all(e[PRIVILEGED_FIELD] is True for e in events)
    assert events[3]["traits"]["consent"] == {"email": True}


def test_dead_letters_per_source_are_bounded_and_counted(queue: QueueForwarder) -> None:
    budget = 20_000
    c = Collector(queue, port=0, dead_letter_budget=budget).start()
    before = DEAD_LETTERS_DROPPED._value.get()
    started = time.monotonic()
    try:
        bad = {"type": "track", "event": "X", "timestamp": _track(0)["timestamp"],
               "properties": {"pad": "z" * 3000}}  # no identity
        for _ in range(30):
            assert _post(c.url, "/v1/batch", {"batch": [bad] * 5}, key="any")[0] == 400
    finally:
        c.stop()
    elapsed = time.monotonic() - started
    _, dead = _split(queue)
    stored = sum(len(d.payload) for d in dead)
    assert stored <= budget * (1 + elapsed / 60)
    assert len(dead) < 150
    assert DEAD_LETTERS_DROPPED._value.get() - before == 150 - len(dead)
    assert c.counts["dead_letters_dropped"] == 150 - len(dead)


def test_budget_refills_at_its_rate() -> None:
    b = DeadLetterBudget(per_minute=600)
    assert b.allow(["ip:a"], 600, now=0.0)
    assert not b.allow(["ip:a"], 1, now=0.0)
    assert b.allow(["ip:b"], 600, now=0.0)  # sources are separate
    assert not b.allow(["ip:a"], 20, now=1.0)  # 10 bytes a second
    assert b.allow(["ip:a"], 20, now=2.0)
    assert not b.allow(["ip:c", "key:k"], 700, now=2.0)
