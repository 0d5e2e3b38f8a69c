"""Kafka round trip: event produced → decision consumed, beside the broker's own
produce → consume latency for messages of the same size, at the same fixed rate, same run."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer

from flows.kafka import CONSUMER_DEFAULTS, ensure_topics
from flows.settings import Settings

__all__ = ["bench_kafka_latency"]

ROOT = Path(__file__).resolve().parents[1]


def _request(i: int, tag: str) -> bytes:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return orjson.dumps({"type": "page", "name": "Home", "userId": f"lat-{tag}-{i}",
                         "timestamp": ts, "properties": {"placement": "home_hero"}})


def _consumer(brokers: str, topic: str) -> Consumer:
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4().hex}",
                  "auto.offset.reset": "latest", "enable.auto.commit": False,
                  **CONSUMER_DEFAULTS})
    c.subscribe([topic])
    return c


def _drive(brokers: str, topic: str, reply_topic: str, n: int, rate: float, tag: str,
           key_of: object) -> np.ndarray:
    """Produce `n` messages at `rate`/s to `topic`; time each reply on `reply_topic`."""
    sent: dict[str, int] = {}
    lat: list[float] = []
    c = _consumer(brokers, reply_topic)
    while not c.assignment():
        c.poll(0.1)
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set() or len(lat) < len(sent):
            msg = c.poll(0.05)
            if msg is None or msg.error() is not None:
                if stop.is_set() and time.monotonic() > deadline:
                    return
                continue
            k = key_of(msg.value())  # type: ignore[operator]
            t0 = sent.get(k)
            if t0 is not None:
                lat.append((time.perf_counter_ns() - t0) / 1e3)

    deadline = float("inf")
    th = threading.Thread(target=consume)
    th.start()
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 1})
    start = time.perf_counter()
    for i in range(n):
        target = start + i / rate
        while time.perf_counter() < target:
            time.sleep(max(0.0, min(target - time.perf_counter(), 0.001)))
        payload = _request(i, tag)
        sent[f"lat-{tag}-{i}"] = time.perf_counter_ns()
        p.produce(topic, payload, key=f"lat-{tag}-{i}".encode())
        p.poll(0)
    p.flush(10)
    deadline = time.monotonic() + 15
    stop.set()
    th.join()
    c.close()
    return np.array(lat)


def _summary(name: str, lat: np.ndarray, n: int) -> dict[str, object]:
    q = np.percentile(lat, [50, 99, 99.9]) if len(lat) else [float("nan")] * 3
    return {"path": name, "received": len(lat), "sent": n, "p50_us": float(q[0]),
            "p99_us": float(q[1]), "p99_9_us": float(q[2])}


def bench_kafka_latency(brokers: str, *, n: int = 2000, rate: float = 200.0) -> dict[str, object]:
    """Both distributions and the p99 ratio. Starts the flow as a `journey run` process."""
    tag = uuid.uuid4().hex[:8]
    s = Settings(source="kafka", brokers=brokers, events_topic=f"b{tag}.events",
                 context_topic=f"b{tag}.context", outcomes_topic=f"b{tag}.outcomes",
                 decisions_topic=f"b{tag}.decisions", dead_letter_topic=f"b{tag}.dead",
                 partitions=1)
    ensure_topics(s)
    probe = f"b{tag}.probe"
    ensure_topics(s, [probe])
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--source", "kafka", "--brokers", brokers,
         "--events-topic", s.events_topic, "--context-topic", s.context_topic,
         "--outcomes-topic", s.outcomes_topic, "--decisions-topic", s.decisions_topic,
         "--dead-letter-topic", s.dead_letter_topic, "--metrics-port", "0", "--no-progress"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def customer(value: bytes) -> str:
            return str(orjson.loads(value)["customer_id"])

        def user(value: bytes) -> str:
            return str(orjson.loads(value)["userId"])

        # warm up until the flow answers, then measure both paths at the same rate
        warm = _drive(brokers, s.events_topic, s.decisions_topic, 50, 50.0, tag + "w",
                      customer)
        if len(warm) == 0:
            msg = "the flow produced no decisions during warm-up"
            raise RuntimeError(msg)
        flow = _drive(brokers, s.events_topic, s.decisions_topic, n, rate, tag, customer)
        broker = _drive(brokers, probe, probe, n, rate, tag + "p", user)
    finally:
        proc.terminate()
        proc.wait(30)
    a, b = _summary("event → decision (Journey)", flow, n), _summary(
        "produce → consume (broker alone)", broker, n)
    return {"journey": a, "broker": b, "rate_per_s": rate,
            "p99_ratio": float(a["p99_us"]) / float(b["p99_us"]),  # type: ignore[arg-type]
            "p50_ratio": float(a["p50_us"]) / float(b["p50_us"])}  # type: ignore[arg-type]
