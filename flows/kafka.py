"""Kafka source and sinks (bytewax's connectors), topic creation and client defaults.

Input offsets live in bytewax's recovery store (the source uses `assign()`, no group
commits), so output is at-least-once: decision ids are deterministic for consumers to dedupe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource, KafkaSourceMessage
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from engine import metrics
from engine.decision import SCHEMA_VERSION, Decision
from features.deadletter import DeadLetter
from features.errors import JourneyError
from features.identity import customer_key, known_id
from features.schema import RawRecord
from flows.settings import Settings, kafka_settings

__all__ = [
    "CONSUMER_DEFAULTS",
    "PRODUCER_DEFAULTS",
    "LagMonitor",
    "dead_letter_message",
    "decision_message",
    "ensure_topics",
    "kafka_sink",
    "kafka_source",
    "raw_record",
]

CONSUMER_DEFAULTS = {"fetch.wait.max.ms": "10", "fetch.min.bytes": "1"}
"""Low latency by default: a short fetch wait instead of librdkafka's 500 ms."""
log = logging.getLogger(__name__)

PRODUCER_DEFAULTS = {"linger.ms": "1", "acks": "all", "enable.idempotence": "true"}
"""Small linger; idempotent, fully acknowledged writes."""


def _brokers(settings: Settings) -> list[str]:
    return [b.strip() for b in settings.brokers.split(",") if b.strip()]


def _streams(settings: Settings) -> dict[str, str]:
    return {settings.events_topic: "events", settings.context_topic: "context",
            settings.outcomes_topic: "outcomes"}


def _list_topics(admin: AdminClient, brokers: str, timeout: float) -> set[str]:
    """Topic names, retrying with exponential backoff until `timeout`; then one clear error."""
    deadline = time.monotonic() + timeout
    delay, attempts = 0.5, 0
    while True:
        attempts += 1
        left = deadline - time.monotonic()
        try:
            return set(admin.list_topics(timeout=max(0.5, min(left, 5.0))).topics)
        except KafkaException as e:
            left = deadline - time.monotonic()
            if left <= 0:
                msg = (f"cannot reach Kafka at {brokers!r} ({attempts} attempts over "
                       f"{timeout:.0f} s; last: {e.args[0] if e.args else e}): check --brokers "
                       "(JOURNEY_BROKERS), --kafka-config, and that the broker is up")
                raise JourneyError(msg) from e
            log.warning("Kafka at %r not reachable yet (%s); retrying in %.1f s", brokers,
                        e.args[0] if e.args else e, min(delay, left))
            time.sleep(min(delay, left))
            delay = min(delay * 2, 8.0)


def ensure_topics(settings: Settings, topics: list[str] | None = None,
                  timeout: float | None = None) -> None:
    """Create `topics` (default: Journey's five) that do not exist yet; wait for the broker up
    to `timeout` (default `--kafka-timeout`), retrying with backoff."""
    timeout = settings.kafka_timeout if timeout is None else timeout
    admin = AdminClient({"bootstrap.servers": settings.brokers, **kafka_settings(settings)})
    existing = _list_topics(admin, settings.brokers, timeout)
    wanted = dict.fromkeys(topics or [
        settings.events_topic, settings.context_topic, settings.outcomes_topic,
        settings.decisions_topic, settings.dead_letter_topic])
    new = [NewTopic(t, num_partitions=settings.partitions, replication_factor=-1)
           for t in wanted if t not in existing]
    for topic, fut in (admin.create_topics(new, operation_timeout=timeout).items()
                       if new else []):
        try:
            fut.result(timeout)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                msg = (f"cannot create topic {topic!r} on {settings.brokers!r}: {e}: create it "
                       "yourself or give Journey the right to")
                raise JourneyError(msg) from e


def kafka_source(settings: Settings) -> KafkaSource:
    """bytewax's partitioned Kafka source over the events, context and outcomes topics."""
    return KafkaSource(
        _brokers(settings),
        list(_streams(settings)),
        tail=settings.tail,
        add_config={**CONSUMER_DEFAULTS, **kafka_settings(settings)},
        raise_on_errors=False,
    )


class LagMonitor:
    """Consumer lag of this process: end offset minus next offset, per input topic.

    The flow notes the offset of each record it reads (a dict store); a daemon thread asks
    the broker for end offsets every `interval` seconds and sets `journey_consumer_lag_messages`.
    """

    def __init__(self, settings: Settings, interval: float = 5.0) -> None:
        self.settings = settings
        self.interval = interval
        self.next_offset: dict[tuple[str, int], int] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def seen(self, topic: str, partition: int, offset: int) -> None:
        """Note that `offset` of `topic`/`partition` was read (starts the poller once)."""
        self.next_offset[(topic, partition)] = offset + 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journey-lag", daemon=True)
            self._thread.start()

    def lag(self, consumer: Consumer) -> dict[str, int]:
        """Messages behind the end, summed per topic, over the partitions read so far."""
        out: dict[str, int] = {}
        for (topic, part), nxt in list(self.next_offset.items()):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=5)
            out[topic] = out.get(topic, 0) + max(high - nxt, 0)
        return out

    def _run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.settings.brokers,
                             "group.id": "journey-lag-probe", "enable.auto.commit": False,
                             **kafka_settings(self.settings)})
        try:
            while not self._stop.wait(self.interval):
                try:
                    for topic, n in self.lag(consumer).items():
                        metrics.CONSUMER_LAG.labels(topic).set(n)
                except KafkaException:  # a failed probe must not touch the flow; retried
                    continue
        finally:
            consumer.close()

    def stop(self) -> None:
        """Stop the poller."""
        self._stop.set()


def raw_record(settings: Settings, lag: LagMonitor | None = None) -> Any:
    """Map a Kafka message to a `RawRecord` the decoder reads (for `op.filter_map`).

    A rejection of the collector's that names a customer or device, sent through the events
    topic (`DeadLetter.to_record`) so it meets that key's state and is redacted if she was
    erased, becomes that dead letter. A consumer error that carries a
    record (a message the broker could not hand over cleanly) becomes a dead letter; one that
    carries none (the broker went away, a fetch timed out: librdkafka reconnects and fetches
    again from the same offset) is counted in `journey_kafka_errors_total{code}` and
    dropped, since no record was lost.
    """
    streams = _streams(settings)

    def convert(msg: Any) -> RawRecord | None:
        if not isinstance(msg, KafkaSourceMessage):  # bytewax's KafkaError
            if not msg.msg.value:
                metrics.KAFKA_ERRORS.labels(msg.err.name()).inc()
                log.warning("Kafka consumer error (retried by the client): %s", msg.err)
                return None
            rejected = DeadLetter.from_record(msg.msg.value, msg.msg.headers)
            if rejected is not None:
                return rejected
            origin = f"{msg.msg.topic}:{msg.msg.partition}:{msg.msg.offset}"
            return RawRecord(msg.msg.value, "events", origin)
        if lag is not None and msg.offset is not None:
            lag.seen(msg.topic, msg.partition, msg.offset)
        rejected = DeadLetter.from_record(msg.value or b"", msg.headers)
        if rejected is not None:  # the collector's, naming someone: through her step
            return rejected
        origin = f"{msg.topic}:{msg.partition}:{msg.offset}"
        return RawRecord(msg.value or b"", streams.get(msg.topic or "", "events"), origin)

    return convert


def kafka_sink(settings: Settings) -> KafkaSink:
    """bytewax's Kafka sink; the topic comes with each message."""
    return KafkaSink(_brokers(settings), None,
                     add_config={**PRODUCER_DEFAULTS, **kafka_settings(settings)})


def decision_message(settings: Settings, d: Decision) -> KafkaSinkMessage[bytes, bytes]:
    """A decision keyed by the keyed hash of the customer id (no raw id in the key)."""
    key = customer_key(known_id(d.customer_id), settings.secret.encode()).encode()
    return KafkaSinkMessage(key, d.to_json(), topic=settings.decisions_topic,
                            headers=[("journey.schema", SCHEMA_VERSION.encode())])


def dead_letter_message(settings: Settings, d: DeadLetter) -> KafkaSinkMessage[None, bytes]:
    """The original bytes, with headers naming the error and where the record came from."""
    headers = d.headers()
    parts = d.origin.split(":")
    if len(parts) == 3:
        headers += [("journey.errors.topic", parts[0].encode()),
                    ("journey.errors.partition", parts[1].encode()),
                    ("journey.errors.offset", parts[2].encode())]
    return KafkaSinkMessage(None, d.payload, topic=settings.dead_letter_topic, headers=headers)
