"""A Segment-compatible HTTP collector: validates events and forwards them to Kafka or the flow.

Point any Segment library at it (`segment.analytics.Client(key, host="http://host:8088")`).
Requests are validated whole by `features.intake`; accepted events are deduplicated on
`messageId` (24 h window) and handed to a forwarder: the events topic (`journey collect`) or
the embedded flow's queue (`journey run --source collector`). When the forwarder is full the
collector answers 429 with `Retry-After`, and the client retries; rejected requests answer 400
with a reason and go to the dead-letter output.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson
from confluent_kafka import Producer

from engine import metrics
from features.deadletter import DeadLetter
from features.dedupe import RecentIds
from features.identity import customer_key, routing_id
from features.intake import Accepted, IntakeError, parse_request
from features.schema import RawRecord
from flows.kafka import PRODUCER_DEFAULTS
from flows.settings import Settings, kafka_settings

__all__ = ["Collector", "Forwarder", "KafkaForwarder", "QueueForwarder"]

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
"""What a 429 asks the client to wait (Segment's clients honour `Retry-After`)."""


class Forwarder(Protocol):
    """Where accepted events and rejected requests go."""

    def offer(self, events: list[Accepted]) -> bool:
        """Take all of `events`, or none of them (False: full, try again later)."""
        ...

    def reject(self, dead: DeadLetter) -> None:
        """Send a rejected request to the dead-letter output."""
        ...

    def close(self) -> None:
        """Deliver what is buffered and release resources."""
        ...


class QueueForwarder:
    """A bounded in-process queue the embedded flow's collector source drains."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[RawRecord | DeadLetter] = deque()
        self._lock = threading.Lock()

    def offer(self, events: list[Accepted]) -> bool:
        with self._lock:
            if len(self._items) + len(events) > self.capacity:
                return False
            self._items.extend(RawRecord(a.payload, "events", "collector") for a in events)
            return True

    def reject(self, dead: DeadLetter) -> None:
        with self._lock:
            self._items.append(dead)

    def take(self, n: int) -> list[RawRecord | DeadLetter]:
        """Up to `n` queued items, oldest first."""
        with self._lock:
            return [self._items.popleft() for _ in range(min(n, len(self._items)))]

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        return None


class KafkaForwarder:
    """Produces accepted events to the events topic, keyed by the customer's keyed hash."""

    def __init__(self, settings: Settings, capacity: int) -> None:
        self.settings = settings
        self.capacity = capacity
        self.secret = settings.secret.encode()
        self.failed = 0
        self._lock = threading.Lock()
        self._producer = Producer({
            "bootstrap.servers": settings.brokers, **PRODUCER_DEFAULTS,
            "queue.buffering.max.messages": str(max(capacity * 2, 1000)),
            **kafka_settings(settings)})
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="collector-producer",
                                        daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            log.error("collector: event not delivered to Kafka: %s", err)

    def offer(self, events: list[Accepted]) -> bool:
        with self._lock:
            if len(self._producer) + len(events) > self.capacity:
                return False
            for a in events:
                key = customer_key(routing_id(a.event)[0], self.secret).encode()
                self._producer.produce(self.settings.events_topic, a.payload, key,
                                       on_delivery=self._delivered)
            return True

    def reject(self, dead: DeadLetter) -> None:
        with self._lock:
            self._producer.produce(self.settings.dead_letter_topic, dead.payload,
                                   headers=dead.headers(), on_delivery=self._delivered)

    def close(self) -> None:
        self._stop.set()
        self._poller.join()
        self._producer.flush(30)


class Collector:
    """The HTTP Tracking API in front of a forwarder. `start()` serves on a thread."""

    def __init__(self, forwarder: Forwarder, *, write_keys: tuple[str, ...] = (),
                 host: str = "127.0.0.1", port: int = 8088,
                 dedupe: RecentIds | None = None) -> None:
        self.forwarder = forwarder
        self.write_keys = write_keys
        self.dedupe = dedupe or RecentIds()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give clients as `host`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Collector:
        """Serve requests on a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="collector-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and flush the forwarder."""
        self._server.shutdown()
        self._server.server_close()
        self.forwarder.close()

    def handle(self, call: str, body: bytes,
               headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One request → (status, JSON reply, extra headers). Thread-safe."""
        try:
            events = parse_request(call, body, headers, write_keys=self.write_keys,
                                   received=time.time())
        except IntakeError as e:
            metrics.collector_rejected_by(e.code).inc()
            if e.status == 400:
                self.forwarder.reject(DeadLetter(e.code, e.message, body[:65536], "events",
                                                 f"collector:/v1/{call[:20]}", "IntakeError"))
            return e.status, {"success": False, "code": e.code, "message": e.message}, {}
        now = time.time()
        with self._lock:
            fresh: list[Accepted] = []
            ids: set[str] = set()
            for a in events:
                mid = a.event.message_id
                if mid in ids or self.dedupe.seen(mid, now):
                    continue
                ids.add(mid)
                fresh.append(a)
            if fresh and not self.forwarder.offer(fresh):
                metrics.collector_rejected_by("overloaded").inc()
                return 429, {"success": False, "code": "overloaded",
                             "message": "too many events in flight; retry later"}, {
                    "Retry-After": str(RETRY_AFTER_SECONDS)}
            for a in fresh:
                self.dedupe.add(a.event.message_id, now)
        metrics.collector_events_by("accepted").inc(len(fresh))
        metrics.collector_events_by("duplicate").inc(len(events) - len(fresh))
        return 200, {"success": True}, {}


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "journey-collector"

        def _reply(self, status: int, body: dict[str, Any],
                   extra: dict[str, str] | None = None) -> None:
            data = orjson.dumps(body)
            metrics.collector_requests_by(str(status)).inc()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"ok": True})
            else:
                self._reply(404, {"success": False, "code": "not_found", "message": self.path})

        def do_POST(self) -> None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) != 2 or parts[0] != "v1":
                self._reply(404, {"success": False, "code": "not_found",
                                  "message": "endpoints are /v1/<call> and /v1/batch"})
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                self._reply(411, {"success": False, "code": "invalid_request",
                                  "message": "Content-Length is required"})
                return
            if int(length) > 4 * 500 * 1024:  # do not read absurd bodies; drop the connection
                self.close_connection = True
                metrics.collector_rejected_by("body_too_large").inc()
                self._reply(400, {"success": False, "code": "body_too_large",
                                  "message": "request is larger than 500 KB"})
                return
            body = self.rfile.read(int(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, reply, extra = collector.handle(parts[1], body, headers)
            except Exception:  # a bug must not kill the server: 500, logged, counted
                log.exception("collector: request failed")
                status, reply, extra = 500, {"success": False, "code": "internal",
                                             "message": "internal error"}, {}
            self._reply(status, reply, extra)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # request lines may carry ids; metrics count requests instead

    return Handler
