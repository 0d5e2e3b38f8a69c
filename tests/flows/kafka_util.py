"""Helpers for the tests that talk to the real broker (`JOURNEY_TEST_BROKERS`)."""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import Consumer

from flows.settings import Settings

BROKERS = os.environ.get("JOURNEY_TEST_BROKERS", "")


def kafka_settings_for_test(**kw: object) -> Settings:
    """Settings for fresh, uniquely named topics (so tests never see each other's data)."""
    tag = uuid.uuid4().hex[:8]
    return Settings(source="kafka", brokers=BROKERS, tail=False, metrics_port=0, progress=False,
                    events_topic=f"t{tag}.events", context_topic=f"t{tag}.context",
                    outcomes_topic=f"t{tag}.outcomes", decisions_topic=f"t{tag}.decisions",
                    dead_letter_topic=f"t{tag}.dead-letter", **{"partitions": 3, **kw})


def consume(topic: str, expect: int, timeout: float = 30.0) -> list:
    """Every message of `topic` from the start: until `expect` arrived and the topic is quiet,
    or `timeout`."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"test-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            if len(out) >= expect:
                break
            continue
        if msg.error() is None:
            out.append(msg)
    c.close()
    return out


