"""The Segment-compatible collector over real HTTP, and Segment's own Python client against it."""

from __future__ import annotations

import base64
import gzip
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from segment.analytics import Client

from features.deadletter import DeadLetter
from features.decode import decode
from features.dedupe import RecentIds
from features.schema import RawRecord
from flows.collector import Collector, KafkaForwarder, QueueForwarder
from flows.settings import Settings

KEY = "test-write-key"


@pytest.fixture
def queue() -> QueueForwarder:
    return QueueForwarder(capacity=50)


@pytest.fixture
def collector(queue: QueueForwarder) -> Iterator[Collector]:
    c = Collector(queue, write_keys=(KEY,), port=0).start()
    yield c
    c.stop()


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _track(i: int, **kw: Any) -> dict[str, Any]:
    ev = {"type": "track", "event": "Product Viewed", "userId": f"user-{i}",
          "messageId": f"m-{i}", "timestamp": _iso(datetime.now(UTC)),
          "properties": {"product_id": "p1", "price": 10.0}}
    ev.update(kw)
    return ev


def _post(url: str, path: str, body: Any, *, key: str | None = KEY,
          encoding: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    if encoding == "gzip":
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, orjson.loads(resp.read()), {
                k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read()), {k.lower(): v for k, v in e.headers.items()}


def _events(q: QueueForwarder) -> list[dict[str, Any]]:
    return [orjson.loads(r.payload) for r in q.take(10_000) if isinstance(r, RawRecord)]


def test_single_calls_and_batches_are_accepted_and_stamped(collector: Collector,
                                                           queue: QueueForwarder) -> None:
    ident = {"userId": "user-1", "traits": {"plan": "pro"}, "timestamp": _iso(datetime.now(UTC))}
    assert _post(collector.url, "/v1/identify", ident)[0] == 200
    batch = {"batch": [_track(2), {**_track(3), "type": "page", "name": "Home",
                                   "properties": {"placement": "home_hero"}}]}
    status, reply, _ = _post(collector.url, "/v1/batch", batch, encoding="gzip")
    assert (status, reply) == (200, {"success": True})
    got = _events(queue)
    assert [e["type"] for e in got] == ["identify", "track", "page"]
    for e in got:
        assert "receivedAt" in e and e["messageId"]
        decode(orjson.dumps(e))  # what the collector forwards is what the flow decodes
    # the write key is authentication, never forwarded
    assert all("writeKey" not in e for e in got)


def test_write_key_in_body_or_basic_auth(collector: Collector, queue: QueueForwarder) -> None:
    assert _post(collector.url, "/v1/track", {**_track(1), "writeKey": KEY}, key=None)[0] == 200
    status, reply, _ = _post(collector.url, "/v1/track", _track(2), key=None)
    assert (status, reply["code"]) == (401, "unauthorized")
    assert _post(collector.url, "/v1/track", _track(3), key="wrong")[0] == 401
    assert [e["userId"] for e in _events(queue)] == ["user-1"]


def test_limits_answer_400_with_a_reason_and_dead_letter(collector: Collector,
                                                          queue: QueueForwarder) -> None:
    many = {"batch": [_track(i, properties={"pad": "y" * 20_000}) for i in range(30)]}
    assert _post(collector.url, "/v1/batch", many)[1]["code"] == "body_too_large"
    assert _post(collector.url, "/v1/track", b"{not json")[1]["code"] == "invalid_json"
    no_id = {"event": "Product Viewed", "timestamp": _iso(datetime.now(UTC))}
    status, reply, _ = _post(collector.url, "/v1/track", no_id)
    assert (status, reply["code"]) == (400, "invalid_event") and "userId" in reply["message"]
    assert reply["rejected"] == [{"index": -1, "code": "invalid_event",
                                  "message": reply["message"]}]
    items = queue.take(100)
    assert all(isinstance(i, DeadLetter) for i in items)
    assert [i.reason for i in items] == ["body_too_large", "invalid_json", "invalid_event"]
    assert items[1].payload == b"{not json"
    assert orjson.loads(items[2].payload) == no_id


def test_each_event_of_a_batch_is_judged_on_its_own(collector: Collector,
                                                    queue: QueueForwarder) -> None:
    """One bad event costs only itself: the good ones are accepted, the bad one is
    dead-lettered whole (beyond 64 KB too) and the reply names it."""
    big = _track(1, properties={"blob": "x" * 70_000})
    no_id = {"type": "track", "event": "Product Viewed", "messageId": "m-no-id"}
    status, reply, _ = _post(collector.url, "/v1/batch",
                             {"batch": [_track(0), big, _track(2), no_id]})
    assert status == 200 and reply["success"] and reply["accepted"] == 2
    assert [(r["index"], r["code"]) for r in reply["rejected"]] == [
        (1, "event_too_large"), (3, "invalid_event")]
    assert "batch[1]" in reply["rejected"][0]["message"]
    items = queue.take(100)
    events = [orjson.loads(i.payload) for i in items if isinstance(i, RawRecord)]
    assert [e["messageId"] for e in events] == ["m-0", "m-2"]
    dead = [i for i in items if isinstance(i, DeadLetter)]
    assert [d.reason for d in dead] == ["event_too_large", "invalid_event"]
    assert orjson.loads(dead[0].payload) == big and len(dead[0].payload) > 70_000
    assert orjson.loads(dead[1].payload) == no_id


def test_upper_case_gzip_is_accepted(collector: Collector, queue: QueueForwarder) -> None:
    data = gzip.compress(orjson.dumps({"batch": [_track(1)]}))
    req = urllib.request.Request(collector.url + "/v1/batch", data=data, method="POST", headers={
        "Content-Encoding": "GZIP", "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    assert [e["messageId"] for e in _events(queue)] == ["m-1"]


def test_duplicate_message_ids_are_forwarded_once(collector: Collector,
                                                  queue: QueueForwarder) -> None:
    assert _post(collector.url, "/v1/batch", {"batch": [_track(1), _track(1), _track(2)]})[0] == 200
    assert _post(collector.url, "/v1/track", _track(2))[0] == 200  # a client retry
    assert [e["messageId"] for e in _events(queue)] == ["m-1", "m-2"]


def _dedupe_ids() -> float:
    return REGISTRY.get_sample_value("journey_dedupe_ids", {"store": "collector"}) or 0.0


def test_a_corrected_resend_under_the_same_message_id_goes_on(collector: Collector,
                                                             queue: QueueForwarder) -> None:
    """The flow may have dead-lettered the first copy (a price it cannot read): the edge
    forwards the corrected one (the flow's guard drops it if the first was handled); a retry
    of either, re-sent later, is dropped."""
    bad = _track(1, properties={"product_id": "p1", "price": "forty"})
    fixed = _track(1)
    now = datetime.now(UTC)
    for ev, sent in ((bad, now), (fixed, now), (fixed, now + timedelta(seconds=3)),
                     (bad, now + timedelta(seconds=5))):
        assert _post(collector.url, "/v1/batch", {"batch": [ev], "sentAt": _iso(sent)})[0] == 200
    got = _events(queue)
    assert [(e["messageId"], e["properties"]["price"]) for e in got] == [("m-1", "forty"),
                                                                        ("m-1", 10.0)]


def test_remembered_ids_are_bounded_oldest_forgotten_and_counted() -> None:
    q = QueueForwarder(capacity=100)
    c = Collector(q, write_keys=(KEY,), port=0, dedupe=RecentIds(capacity=20)).start()
    try:
        for first in range(0, 50, 10):
            batch = {"batch": [_track(i) for i in range(first, first + 10)]}
            assert _post(c.url, "/v1/batch", batch)[0] == 200
        assert _dedupe_ids() == 20 == len(c.dedupe)
        assert _post(c.url, "/v1/batch", {"batch": [_track(49), _track(0)]})[0] == 200
    finally:
        c.stop()
    got = [e["messageId"] for e in _events(q)]
    assert got == [f"m-{i}" for i in range(50)] + ["m-0"]  # m-49 remembered, m-0 forgotten
    assert _dedupe_ids() == 20


def test_clock_skew_is_corrected_like_segment(collector: Collector,
                                              queue: QueueForwarder) -> None:
    now = datetime.now(UTC)
    device = now + timedelta(hours=1)  # the device clock runs an hour ahead
    ev = _track(1, timestamp=_iso(device - timedelta(minutes=5)))
    assert _post(collector.url, "/v1/batch", {"batch": [ev], "sentAt": _iso(device)})[0] == 200
    (got,) = _events(queue)
    corrected = datetime.fromisoformat(got["timestamp"])
    assert got["originalTimestamp"] == ev["timestamp"]
    assert abs((corrected - (now - timedelta(minutes=5))).total_seconds()) < 5


def test_overload_answers_429_with_retry_after(queue: QueueForwarder) -> None:
    small = QueueForwarder(capacity=3)
    c = Collector(small, port=0).start()
    try:
        assert _post(c.url, "/v1/batch", {"batch": [_track(i) for i in range(3)]})[0] == 200
        status, reply, headers = _post(c.url, "/v1/track", _track(9))
        assert (status, reply["code"], headers["retry-after"]) == (429, "overloaded", "1")
        small.take(10)
        assert _post(c.url, "/v1/track", _track(9))[0] == 200
    finally:
        c.stop()


def test_nothing_is_acknowledged_before_the_broker_confirms_it() -> None:
    """`journey collect`'s forwarder to a broker that is not there (a closed port): the
    request waits for the broker's acknowledgement and gets a 503 to retry instead of a
    200; a duplicate sent while the first copy is in flight waits on it and fails with it;
    the retry is not mistaken for a duplicate; nothing is counted acknowledged."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = Settings(brokers=f"127.0.0.1:{closed}", events_topic="gone.events",
                        dead_letter_topic="gone.dead-letter")
    c = Collector(KafkaForwarder(settings, 100, flush_timeout=0.5), write_keys=(KEY,),
                  port=0, delivery_timeout=1.5).start()
    replies: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {}

    def send(name: str) -> None:
        replies[name] = _post(c.url, "/v1/track", _track(1))

    try:
        first = threading.Thread(target=send, args=("first",))
        first.start()
        time.sleep(0.5)  # the first copy is in flight
        started = time.monotonic()
        send("duplicate")
        waited = time.monotonic() - started
        first.join()
        assert waited > 0.8  # it waited on the first copy (a plain duplicate answers at once)
        send("retry")
    finally:
        c.stop()
    for name in ("first", "duplicate", "retry"):
        status, reply, headers = replies[name]
        assert (status, reply["code"], headers["retry-after"]) == (503, "not_delivered", "1")
    summary = c.summary()
    assert summary["acknowledged"] == summary["duplicates"] == 0
    assert summary["unconfirmed_requests"] == 3


def test_segment_client_retries_through_429_and_delivers_each_event_once() -> None:
    """The official client, a collector that can hold 5 events, a slow consumer."""
    q = QueueForwarder(capacity=5)
    c = Collector(q, write_keys=(KEY,), port=0).start()
    got: list[dict[str, Any]] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            got.extend(orjson.loads(r.payload) for r in q.take(2) if isinstance(r, RawRecord))
            time.sleep(0.05)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    errors: list[Any] = []
    client = Client(KEY, host=c.url, upload_size=4, upload_interval=0.05,
                    on_error=lambda e, batch: errors.append(e))
    try:
        for i in range(30):
            client.track(user_id=f"user-{i % 7}", event="Product Viewed",
                         properties={"product_id": f"p{i}", "price": 5.0 + i})
        client.flush()
        deadline = time.monotonic() + 30
        while len(got) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        client.shutdown()
        stop.set()
        drainer.join()
        c.stop()
    assert not errors
    assert len(got) == 30
    assert len({e["messageId"] for e in got}) == 30
    assert sorted(e["properties"]["product_id"] for e in got) == sorted(f"p{i}"
                                                                       for i in range(30))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _reaped(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Run the block; then never leave `proc` (and its pipes) to a later test: killed and
    reaped if it is still running, whatever the block did."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail("collector did not come up")


def test_segment_client_events_become_decisions_in_the_embedded_flow(tmp_path: Path) -> None:
    """`journey run --source collector`: Segment client → HTTP → flow → decisions file."""
    port = _free_port()
    out, dead = tmp_path / "decisions.jsonl", tmp_path / "dead.jsonl"
    users = [f"shopper-{i}" for i in range(4)]
    records = len(users) * 3 + 1  # identify, track, page per user, and one rejected request
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--source", "collector",
         "--collector-port", str(port), "--collector-limit", str(records), "--write-keys", KEY,
         "--out", str(out), "--dead-letters", str(dead), "--metrics-port", "0",
         "--no-progress"],
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})
    url = f"http://127.0.0.1:{port}"
    with _reaped(proc):
        _wait_healthy(url, proc)
        client = Client(KEY, host=url, upload_size=5, upload_interval=0.05)
        for u in users:
            client.identify(u, {"email_opt_in": True})
            client.track(u, "Product Viewed", {"product_id": "p7", "category": "shoes",
                                               "price": 80.0})
            client.page(u, "Shop", "Product", {"placement": "product_page"})
        client.flush()
        client.shutdown()
        no_identity = {"event": "No Identity", "timestamp": _iso(datetime.now(UTC))}
        status, _, _ = _post(url, "/v1/track", no_identity)
        assert status == 400
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    decisions = [orjson.loads(line) for line in out.read_text().splitlines()]
    requested = {d["customer_id"] for d in decisions if d["trigger"] == "request"}
    assert requested == set(users)
    assert all(d["placement"] == "product_page" for d in decisions if d["trigger"] == "request")
    dead_letters = [orjson.loads(line) for line in dead.read_text().splitlines()]
    assert [d["reason"] for d in dead_letters] == ["invalid_event"]
