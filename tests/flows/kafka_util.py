"""Helpers for the tests that talk to the real broker (`JOURNEY_TEST_BROKERS`)."""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

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




def _watermarks(c: Consumer, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    """(low, high) offsets; retried while a just-created partition has no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_to_end(topic: str, timeout: float = 30.0) -> list:
    """Every message of `topic` up to its end offsets as of the call (not "until quiet": an
    empty topic is known to be empty, a slow one is read whole). Fails if `topic` does not
    exist or the end is not reached within `timeout`."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"test-{uuid.uuid4().hex}",
                  "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            msg = f"topic {topic!r}: {meta.error}"
            raise AssertionError(msg)
        ends = {p: _watermarks(c, topic, p, timeout) for p in meta.partitions}
        todo = {p for p, (lo, hi) in ends.items() if hi > lo}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list = []
        deadline = time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                msg = f"{topic!r}: end offsets {ends} not reached in {timeout} s"
                raise AssertionError(msg)
            msg_ = c.poll(0.5)
            if msg_ is None or msg_.error() is not None:
                continue
            out.append(msg_)
            if msg_.offset() + 1 >= ends[msg_.partition()][1]:
                todo.discard(msg_.partition())
        return out
    finally:
        c.close()
