"""Reference decision subscriber: read the decisions topic, drop replays, hand decisions on.

Journey's output is at-least-once (a resumed flow repeats what followed its last snapshot)
and decision ids are deterministic, so a subscriber dedupes on `decision_id`::

    from flows.subscriber import DecisionSubscriber
    with DecisionSubscriber("localhost:9092", group="email-sender") as sub:
        for decision in sub.decisions(timeout=1.0):
            send(decision["channel"], decision["customer_id"], decision["message"])

Offsets are committed only for decisions already handed out (`enable.auto.offset.store` is
off), so a crashed subscriber re-reads, never skips. `journey subscribe` prints them as JSONL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError

from engine.decision import SCHEMA_VERSION
from features.dedupe import RecentIds

__all__ = ["SCHEMA_HEADER", "DecisionSubscriber"]

SCHEMA_HEADER = ("journey.schema", SCHEMA_VERSION.encode())
"""The header every decision message carries; the JSON schema is `engine/decision.schema.json`."""


class DecisionSubscriber:
    """A consumer-group member on the decisions topic that yields each decision id once."""

    def __init__(self, brokers: str, *, topic: str = "journey.decisions",
                 group: str = "journey-subscriber", config: dict[str, str] | None = None,
                 remember: int = 1_000_000, window: float = 7 * 24 * 3600.0) -> None:
        self.topic = topic
        self.duplicates = 0
        self._seen = RecentIds(remember, window)
        self._consumer = Consumer({
            "bootstrap.servers": brokers, "group.id": group,
            "auto.offset.reset": "earliest", "enable.auto.offset.store": False,
            **(config or {})})
        self._consumer.subscribe([topic])

    def decisions(self, timeout: float = 1.0, max_idle: float | None = None,
                  ) -> Iterator[dict[str, Any]]:
        """New decisions as dicts; stops after `max_idle` seconds without any (None: never)."""
        idle_since = time.monotonic()
        while True:
            msg = self._consumer.poll(timeout)
            if msg is None:
                if max_idle is not None and time.monotonic() - idle_since > max_idle:
                    return
                continue
            idle_since = time.monotonic()
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(str(err))
            decision = orjson.loads(msg.value())
            did = decision["decision_id"]
            if self._seen.seen(did, time.time()):
                self.duplicates += 1
            else:
                self._seen.add(did, time.time())
                yield decision
            self._consumer.store_offsets(msg)

    def close(self) -> None:
        """Commit what was handed out and leave the group."""
        self._consumer.close()

    def __enter__(self) -> DecisionSubscriber:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
