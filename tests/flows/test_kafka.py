"""The flow against a real Kafka broker over TCP (started by `make test`)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import orjson
import pytest
from bytewax.testing import cluster_main, run_main
from confluent_kafka import Producer
from segment.analytics import Client

from features.identity import customer_key
from flows.collector import Collector, KafkaForwarder
from flows.dataflow import build_flow
from flows.kafka import ensure_topics
from flows.runtime import Runtime
from flows.settings import Settings
from flows.subscriber import DecisionSubscriber
from tests.flows.kafka_util import BROKERS, consume, kafka_settings_for_test, read_to_end
from tests.flows.test_collector import _iso, _post
from tests.flows.workloads import sim_records

pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(not BROKERS, reason="JOURNEY_TEST_BROKERS not set")]

BAD = [
    (b'{"type": "track", "userId": ', "invalid_json"),
    (b'{"type": "identify", "traits": {}, "timestamp": "2026-01-05T10:00:00Z"}',
     "missing_identity"),
    (b'{"type": "track", "event": "Product Added", "userId": "zz", '
     b'"timestamp": "2026-01-05T10:00:00Z", "properties": {"price": [1]}}', "wrong_type"),
    (b"x" * 40_000, "oversized"),
]


def _produce(s: Settings, n: int) -> int:
    ensure_topics(s)
    p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 5})
    good = 0
    for rec in sim_records(n, 200, seed=3):
        obj = orjson.loads(rec.payload)
        key = str(obj.get("anonymousId") or obj.get("region") or "").encode()
        topic = s.context_topic if obj.get("type") == "context" else s.events_topic
        p.produce(topic, rec.payload, key=key)
        good += 1
    for i, (payload, _) in enumerate(BAD):
        p.produce(s.events_topic, payload, partition=i % 3)
    p.flush(30)
    return good


@pytest.mark.parametrize("workers", [1, 2])
def test_every_event_is_decided_or_dead_lettered(workers, decision_schema):
    s = kafka_settings_for_test()
    good = _produce(s, 3000)
    rt = Runtime(s)
    flow = build_flow(s, runtime=rt)
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    assert rt.events == good + 1  # the wrong_type record decodes; the feature code rejects it
    assert rt.dead_letters == len(BAD)
    dead = consume(s.dead_letter_topic, len(BAD))
    reasons = sorted(dict(m.headers())["journey.errors.reason"].decode() for m in dead)
    assert reasons == sorted(r for _, r in BAD)
    assert {m.value() for m in dead} == {p for p, _ in BAD}
    for m in dead:
        h = dict(m.headers())
        assert h["journey.errors.topic"].decode() == s.events_topic
        assert int(h["journey.errors.offset"]) >= 0 and int(h["journey.errors.partition"]) in {
            0, 1, 2}
        assert h["journey.errors.class"] == b"DecodeError"
    decisions = consume(s.decisions_topic, rt.decisions)
    assert len(decisions) == rt.decisions > 0
    for m in decisions:
        jsonschema.validate(orjson.loads(m.value()), decision_schema)


def test_journey_run_against_the_broker(tmp_path: Path):
    s = kafka_settings_for_test()
    good = _produce(s, 1000)
    args = ["run", "--source", "kafka", "--brokers", BROKERS, "--no-tail",
            "--events-topic", s.events_topic, "--context-topic", s.context_topic,
            "--outcomes-topic", s.outcomes_topic, "--decisions-topic", s.decisions_topic,
            "--dead-letter-topic", s.dead_letter_topic, "--metrics-port", "0", "--no-progress"]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=root,
                          capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    err = proc.stderr.decode()
    summary = orjson.loads(err[err.index("{"):])
    assert summary["events"] == good + 1 and summary["dead_letters"] == len(BAD)
    assert len(consume(s.decisions_topic, summary["decisions"])) == summary["decisions"]


def test_segment_client_to_kafka_to_subscriber(decision_schema):
    """Segment's client → collector → events topic → flow → decisions topic → subscriber.

    Half the buyers grant email consent (Segment's `traits.consent`, sent by the shop's
    server with its admin key: a browser's write key cannot change consent); three hours
    later each comes back, which fires the cart-abandonment timer: only the consented get an
    email."""
    s = kafka_settings_for_test(write_keys="k1")
    ensure_topics(s)
    collector = Collector(KafkaForwarder(s, 1000), write_keys=s.write_key_set,
                          admin_keys=("server-key",), port=0).start()
    users = [f"buyer-{i}" for i in range(6)]
    consented = set(users[::2])
    then = datetime.now(UTC) - timedelta(hours=4)
    server = Client("server-key", host=collector.url, upload_size=4, upload_interval=0.05)
    try:
        for u in users:
            server.identify(u, {"consent": {"email": u in consented}}, timestamp=then)
        server.flush()
    finally:
        server.shutdown()
    client = Client("k1", host=collector.url, upload_size=4, upload_interval=0.05)
    try:
        for u in users:
            client.track(u, "Product Added", {"product_id": "p3", "price": 30.0},
                         timestamp=then)
            client.screen(u, "Shop", "Home", {"placement": "app_home"}, timestamp=then)
        client.track("buyer-0", "Product Added", {"product_id": "p3", "price": 30.0},
                     message_id="dup-1", timestamp=then)
        client.track("buyer-0", "Product Added", {"product_id": "p3", "price": 30.0},
                     message_id="dup-1", timestamp=then)  # a resend: forwarded once
        for u in users:  # back three hours later (now): the abandoned cart is due
            client.track(u, "Product Viewed", {"product_id": "p9"})
        client.flush()
    finally:
        client.shutdown()
        collector.stop()
    sent = len(users) * 4 + 1
    assert len(consume(s.events_topic, sent, timeout=10)) == sent
    rt = Runtime(s)
    run_main(build_flow(s, runtime=rt))
    assert rt.events == sent and rt.dead_letters == 0
    with DecisionSubscriber(BROKERS, topic=s.decisions_topic,
                            group=f"sub-{uuid.uuid4().hex[:6]}") as sub:
        got = list(sub.decisions(timeout=0.5, max_idle=5))
    assert len(got) == rt.decisions
    for d in got:
        jsonschema.validate(d, decision_schema)
    assert {d["customer_id"] for d in got if d["trigger"] == "request"} == set(users)
    abandoned = [(d["customer_id"], d["channel"]) for d in got
                 if d["trigger"] == "cart_abandoned"]
    assert sorted(abandoned) == sorted((u, "email") for u in consented)
    # a replay of the decisions topic (at-least-once output) is deduplicated by decision id
    p = Producer({"bootstrap.servers": BROKERS})
    for d in got[:3]:
        p.produce(s.decisions_topic, orjson.dumps(d))
    p.flush(10)
    with DecisionSubscriber(BROKERS, topic=s.decisions_topic,
                            group=f"sub-{uuid.uuid4().hex[:6]}") as sub:
        again = list(sub.decisions(timeout=0.5, max_idle=5))
        assert sub.duplicates == 3
    assert sorted(d["decision_id"] for d in again) == sorted(d["decision_id"] for d in got)
    assert len({d["decision_id"] for d in got}) == len(got)


def test_journey_forget_erases_a_customer_over_kafka():
    """`journey forget` between a customer's browsing and her next page request: the request
    gets no decision (a newcomer's identical request does), and nothing is dead-lettered."""
    s = kafka_settings_for_test()
    ensure_topics(s)
    p = Producer({"bootstrap.servers": BROKERS})
    now = time.time()

    def send(user: str, at: float, **event: object) -> None:
        # keyed as the collector and `journey forget` key (one partition per customer, so
        # the request is read in order with the customer's other events)
        p.produce(s.events_topic, orjson.dumps({
            "userId": user, "messageId": uuid.uuid4().hex,
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(), **event}),
            key=customer_key("u:" + user, s.secret.encode()).encode())

    for i in range(3):
        send("forget-me", now - 600 + i, type="track", event="Product Viewed",
             properties={"product_id": f"p{i}", "price": 20, "category": "shoes"})
    p.flush(10)
    cmd = ["forget", "--brokers", BROKERS, "--events-topic", s.events_topic, "--user-id",
           "forget-me"]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "flows.cli", *cmd], cwd=root,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    for user in ("forget-me", "newcomer"):
        send(user, now + 5, type="page", properties={"placement": "home_hero"})
    p.flush(10)
    rt = Runtime(s)
    run_main(build_flow(s, runtime=rt))
    got = [orjson.loads(m.value()) for m in consume(s.decisions_topic, rt.decisions)]
    assert [d["customer_id"] for d in got] == ["newcomer"]
    assert rt.events == 6 and rt.dead_letters == 0


def test_collector_rejections_of_an_erased_customer_reach_the_dead_letter_topic_redacted():
    """The collector's rejections that name someone go through the events topic (keyed like
    that key's events), so the flow dead-letters them after her state's step: hers, sent
    after her erasure, arrive redacted; another customer's, and one naming no one (sent
    straight to the dead-letter topic), arrive whole."""
    s = kafka_settings_for_test(write_keys="k1")
    ensure_topics(s)
    collector = Collector(KafkaForwarder(s, 1000), write_keys=("k1",), admin_keys=("admin",),
                          port=0).start()
    now = _iso(datetime.now(UTC))

    def bad(user: str, name: str) -> dict[str, object]:  # rejected: a timestamp of words
        return {"type": "identify", "userId": user, "timestamp": f"{name}'s birthday",
                "traits": {"firstName": name}}

    try:
        assert _post(collector.url, "/v1/identify", {"userId": "gone-k", "timestamp": now,
                     "traits": {"firstName": "Zelda"}}, key="k1")[0] == 200
        assert _post(collector.url, "/v1/track", {"userId": "gone-k", "event": "Forget Me",
                     "timestamp": now}, key="admin")[0] == 200
        status, reply, _ = _post(collector.url, "/v1/batch", {"batch": [
            bad("gone-k", "Zelda"), bad("keep-k", "Yara"), {"type": "track", "event": "x"}]},
            key="k1")
        assert status == 400 and len(reply["rejected"]) == 3, reply
    finally:
        collector.stop()
    rt = Runtime(s)
    run_main(build_flow(s, runtime=rt))
    assert rt.events == 2 and rt.dead_letters == 2  # the one naming no one went straight
    dead = consume(s.dead_letter_topic, 3)
    by_reason = sorted((dict(m.headers())["journey.errors.reason"].decode(), m.value())
                       for m in dead)
    redacted = [m for m in dead if dict(m.headers()).get("journey.errors.redacted")]
    assert len(redacted) == 1 and redacted[0].value() == b""
    whole = sorted(v for _, v in by_reason if v)
    assert len(whole) == 2 and b"keep-k" in whole[0]
    assert whole[1] == b'{"type":"track","event":"x"}'
    blob = b"".join(m.value() + b"".join(v for _, v in m.headers()) for m in dead)
    assert b"gone-k" not in blob and b"Zelda" not in blob


def test_read_to_end_reads_every_partition_to_its_end_offset():
    """The helper the fault tests use to prove a topic empty: it must see what is there."""
    s = kafka_settings_for_test()
    ensure_topics(s, [s.dead_letter_topic, s.outcomes_topic])
    assert read_to_end(s.dead_letter_topic) == []
    p = Producer({"bootstrap.servers": BROKERS})
    for i in range(7):
        p.produce(s.outcomes_topic, f"m{i}".encode(), partition=i % 3)
    p.flush(10)
    assert sorted(m.value() for m in read_to_end(s.outcomes_topic)) == \
        [f"m{i}".encode() for i in range(7)]
    with pytest.raises(AssertionError, match="topic 'no-such-topic"):
        read_to_end(f"no-such-topic-{uuid.uuid4().hex[:6]}")
