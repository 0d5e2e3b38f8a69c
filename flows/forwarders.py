"""Where the collector's accepted events and dead letters go: the embedded flow's bounded
queue (`journey run --source collector`) or the Kafka topics (`journey collect`).

A forwarder takes a request's events and dead letters together or not at all, so a 429 or
503 means nothing of the request was kept. What it took is durable once its `Receipt` says so:
at once for the queue (the flow runs in the same process), at the broker's acknowledgement
(`acks=all`) for Kafka; the collector answers 200 only then.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, Protocol

from confluent_kafka import KafkaException, Producer

from features.deadletter import DeadLetter
from features.identity import customer_key, payload_routing_id, routing_id
from features.intake import Accepted
from features.schema import RawRecord
from flows.kafka import PRODUCER_DEFAULTS
from flows.settings import Settings, kafka_settings

__all__ = ["DELIVERY_TIMEOUT", "Forwarder", "KafkaForwarder", "Offer", "QueueForwarder",
           "Receipt"]

log = logging.getLogger(__name__)

Offer = Literal["ok", "full", "closed"]

DELIVERY_TIMEOUT = 10.0
"""Seconds a record may take to be confirmed: the collector's wait before a 503 and the Kafka
producer's `message.timeout.ms` (after which it gives the record up), kept below the usual
client timeouts (Segment's libraries wait 15 s)."""


class Receipt:
    """Whether every record one offer took was confirmed by where it went (`wait`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left = 0
        self._failed = False
        self._done = threading.Event()
        self._done.set()
        self._callbacks: list[Callable[[], None]] = []

    def expect(self, n: int) -> None:
        """`n` more records are on their way."""
        with self._lock:
            self._left += n
            if self._left:
                self._done.clear()

    def settle(self, ok: bool) -> None:
        """One record was confirmed (`ok`) or given up on."""
        with self._lock:
            self._failed |= not ok
            self._left -= 1
            if self._left:
                return
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb()

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from any thread) once every record is settled; now if they are."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        """Settled, and every record confirmed."""
        return self._done.is_set() and not self._failed

    def wait(self, timeout: float) -> bool:
        """Block until settled (at most `timeout` s); whether every record was confirmed."""
        return self._done.wait(timeout) and not self._failed


class Forwarder(Protocol):
    """Where accepted events and dead letters go."""

    def offer(self, events: list[Accepted], dead: list[DeadLetter],
              receipt: Receipt | None = None) -> Offer:
        """Take all of `events` and `dead`, or none: "full" (try later), "closed" (never);
        `receipt` learns when what was taken is durable."""
        ...

    def close(self) -> None:
        """Take nothing more; deliver what is buffered and release resources."""
        ...


class QueueForwarder:
    """A bounded in-process queue the embedded flow's collector source drains.

    With `limit`, it takes at most that many records (events and dead letters) and closes when
    a request would go past it; the source ends once it is closed and empty.
    """

    def __init__(self, capacity: int, limit: int = 0) -> None:
        self.capacity = capacity
        self.limit = limit
        self.taken = 0
        self._items: deque[RawRecord | DeadLetter] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def offer(self, events: list[Accepted], dead: list[DeadLetter],
              receipt: Receipt | None = None) -> Offer:
        n = len(events) + len(dead)
        with self._lock:
            if self._closed:
                return "closed"
            if self.limit and self.taken + n > self.limit:
                self._closed = True
                return "closed"
            if len(self._items) + n > self.capacity:
                return "full"
            self._items.extend(RawRecord(a.payload, "events", "collector") for a in events)
            self._items.extend(dead)
            self.taken += n
            if self.limit and self.taken >= self.limit:
                self._closed = True
            return "ok"

    def take(self, n: int) -> list[RawRecord | DeadLetter]:
        """Up to `n` queued items, oldest first."""
        with self._lock:
            return [self._items.popleft() for _ in range(min(n, len(self._items)))]

    @property
    def finished(self) -> bool:
        """Closed, and everything it took has been taken out."""
        with self._lock:
            return self._closed and not self._items

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        with self._lock:
            self._closed = True


class KafkaForwarder:
    """Produces accepted events to the events topic, keyed by the customer's keyed hash."""

    def __init__(self, settings: Settings, capacity: int, flush_timeout: float = 60.0) -> None:
        self.settings = settings
        self.capacity = capacity
        self.flush_timeout = flush_timeout
        self.secret = settings.secret.encode()
        self.failed = 0
        """Records the broker never confirmed (after `close()`: lost)."""
        self._lock = threading.Lock()
        self._closed = False
        self._producer = Producer({
            "bootstrap.servers": settings.brokers, **PRODUCER_DEFAULTS,
            "queue.buffering.max.messages": str(max(capacity * 2, 1000)),
            "message.timeout.ms": str(int(DELIVERY_TIMEOUT * 1000)),
            **kafka_settings(settings)})
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="collector-producer",
                                        daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:  # a failing callback must not stop every later receipt
                log.exception("collector: delivery report handling failed")

    def _delivered(self, err: Any, _msg: Any, receipt: Receipt | None = None) -> None:
        if err is not None:
            self.failed += 1
            log.error("collector: record not delivered to Kafka: %s", err)
        if receipt is not None:
            receipt.settle(err is None)

    def offer(self, events: list[Accepted], dead: list[DeadLetter],
              receipt: Receipt | None = None) -> Offer:
        with self._lock:
            if self._closed:
                return "closed"
            n = len(events) + len(dead)
            if len(self._producer) + n > self.capacity:
                return "full"
            if receipt is not None:
                receipt.expect(n)
            done = functools.partial(self._delivered, receipt=receipt)
            sent = 0
            try:
                for a in events:
                    key = customer_key(routing_id(a.event)[0], self.secret).encode()
                    self._producer.produce(self.settings.events_topic, a.payload, key,
                                           on_delivery=done)
                    sent += 1
                for d in dead:
                    self._produce_dead(d, done)
                    sent += 1
            except (BufferError, KafkaException) as e:  # cannot happen below capacity
                log.error("collector: producer refused a record: %s", e)
                self.failed += n - sent
                for _ in range(n - sent):
                    if receipt is not None:
                        receipt.settle(False)
            return "ok"

    def _produce_dead(self, d: DeadLetter, done: Callable[..., None]) -> None:
        """A rejection naming no one goes to the dead-letter topic; one naming a customer or
        device goes through the events topic, keyed and so ordered like that key's events,
        for the flow to dead-letter after her state's step (redacted if she was erased)."""
        routed = payload_routing_id(d.payload)
        if routed is None:
            self._producer.produce(self.settings.dead_letter_topic, d.payload,
                                   headers=d.headers(), on_delivery=done)
        else:
            value, headers = d.to_record()
            self._producer.produce(self.settings.events_topic, value,
                                   customer_key(routed[0], self.secret).encode(),
                                   headers=headers, on_delivery=done)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        left = self._producer.flush(self.flush_timeout)
        self._stop.set()
        self._poller.join()
        if left:
            self.failed += left
            log.error("collector: %d records still undelivered after %.0f s", left,
                      self.flush_timeout)
