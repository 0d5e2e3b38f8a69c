"""A Segment-compatible HTTP collector: validates events and forwards them to Kafka or the flow.

Point any Segment library at it (`segment.analytics.Client(key, host="http://host:8088")`).
It is a starlette app served by uvicorn (`flows.httpserver`: timeouts, bounded connections,
ambiguous framing refused). A request is authenticated first (a Basic key before the body is
read), then each event is judged on its own by `features.intake`: accepted events are
deduplicated on `messageId` (24 h window) and handed to a forwarder, the events topic
(`journey collect`) or the embedded flow's queue (`journey run --source collector`); each
rejected event goes whole to the dead-letter output with its reason (within a per-source
budget) and the reply names it. Erasure and consent changes need an admin key.

The deduplication key is the `messageId` with a digest of what the event says (not when it
was sent): a client's retry is dropped here, but a corrected resend under the same id (its
first copy dead-lettered by the flow, say) goes on, and the flow's per-key guard drops it
only if the first copy was handled. At most `--collector-dedupe-ids` keys are held (the
oldest forgotten first; gauge `journey_dedupe_ids{store="collector"}`).

Nothing is acknowledged that the forwarder did not take and make durable: when it is full the
reply is 429 with `Retry-After` (nothing of the request is kept) and the client retries; a 200
waits for the forwarder's `Receipt` (the broker's acknowledgement with `journey collect`;
at once for the embedded queue), and a request whose records were not all confirmed within
`DELIVERY_TIMEOUT` (10 s) gets a 503 to retry (its message ids are forgotten, so the retry passes;
the flow drops a copy that did arrive). A duplicate of an event still in flight waits on that
event's receipt. Once `drain()` began (SIGINT/SIGTERM, or `--collector-limit` reached) every
request gets 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from engine import metrics
from engine.routing import is_forget
from features.deadletter import DeadLetter
from features.dedupe import RecentIds
from features.intake import (
    MAX_BATCH_BYTES,
    Accepted,
    IntakeError,
    Rejected,
    authenticate,
    header_key,
    parse_request,
)
from features.schema import Event
from features.update import consent_changes
from flows.forwarders import DELIVERY_TIMEOUT, Forwarder, KafkaForwarder, QueueForwarder, Receipt
from flows.httpserver import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, BackgroundServer

__all__ = ["Collector", "DeadLetterBudget", "Forwarder", "KafkaForwarder", "QueueForwarder",
           "restricted"]

log = logging.getLogger(__name__)

_DISCARD_BYTES = 4 * MAX_BATCH_BYTES
"""A body too large but below this is read (and dropped) so the client gets its 400; beyond,
the connection is closed unread."""

RETRY_AFTER_SECONDS = 1
"""What a 429 or 503 asks the client to wait (Segment's clients honour `Retry-After`)."""

Reply = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(slots=True)
class _Pending:
    """A request the forwarder took: its reply once every receipt confirms."""

    reply: Reply
    receipt: Receipt
    ids: list[str]
    """Dedupe keys of its fresh events (forgotten again if they are not confirmed)."""
    duplicates: int
    rejected: list[str]
    """The code of each rejected event."""
    dead: int
    """Dead letters it stores (the rest of its rejected events were over the budget)."""
    waits_on: list[Receipt] = field(default_factory=list)
    """Receipts of the first copies of its duplicates that were still in flight."""

    def receipts(self) -> list[Receipt]:
        return [self.receipt, *self.waits_on]


class DeadLetterBudget:
    """Bytes of dead letters each source (client address, write key) may store: a token
    bucket of `per_minute` bytes refilled continuously; at most `sources` tracked (LRU)."""

    def __init__(self, per_minute: int, sources: int = 10_000) -> None:
        self.per_minute = per_minute
        self.sources = sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, sources: list[str], n_bytes: int, now: float | None = None) -> bool:
        """Take `n_bytes` from every source's bucket if each has them (0 budget: no bound)."""
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            levels = []
            for s in sources:
                level, at = self._buckets.get(s, (float(self.per_minute), now))
                levels.append(min(float(self.per_minute), level + (now - at) * rate))
            ok = all(level >= n_bytes for level in levels)
            for s, level in zip(sources, levels, strict=True):
                self._buckets[s] = (level - n_bytes if ok else level, now)
                self._buckets.move_to_end(s)
            while len(self._buckets) > self.sources:
                self._buckets.popitem(last=False)
            return ok


def restricted(event: Event) -> str | None:
    """Why `event` needs a privileged key: it erases a customer or changes consent."""
    if is_forget(event):
        return f"erasure ({event.event!r})"
    if consent_changes(event):
        return "a consent change"
    return None


class Collector:
    """The HTTP Tracking API in front of a forwarder. `start()` serves on a thread."""

    def __init__(self, forwarder: Forwarder, *, write_keys: tuple[str, ...] = (),
                 admin_keys: tuple[str, ...] = (), host: str = "127.0.0.1", port: int = 8088,
                 dedupe: RecentIds | None = None, dead_letter_budget: int = 1 << 20,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 delivery_timeout: float = DELIVERY_TIMEOUT) -> None:
        self.forwarder = forwarder
        self.delivery_timeout = delivery_timeout
        self.write_keys = write_keys
        self.admin_keys = admin_keys
        self.dedupe = dedupe if dedupe is not None else RecentIds()  # (an empty one is falsy)
        self.budget = DeadLetterBudget(dead_letter_budget)
        self.counts = {"acknowledged": 0, "duplicates": 0, "rejected": 0, "dead_lettered": 0,
                       "dead_letters_dropped": 0, "refused_requests": 0,
                       "unconfirmed_requests": 0}
        """Events acknowledged (forwarded, confirmed), duplicates acknowledged and dropped,
        events rejected, dead letters stored and dropped (budget), requests answered 429 or
        503 on arrival, requests answered 503 because their records were not confirmed."""
        self._lock = threading.Lock()
        self._inflight: dict[str, Receipt] = {}
        """Dedupe key → receipt of an accepted event not yet confirmed."""
        self._draining = False
        self._stopped = False
        app = Starlette(routes=[Route("/health", self._health, methods=["GET"]),
                                Route("/v1/{call}", self._post, methods=["POST"])])
        self._server = BackgroundServer(app, host, port, name="collector-http",
                                        timeout=timeout, max_connections=max_connections)

    @property
    def url(self) -> str:
        """Base URL to give clients as `host`."""
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def draining(self) -> bool:
        """Whether new requests are refused (503)."""
        return self._draining

    def start(self) -> Collector:
        """Serve requests on a background thread."""
        self._server.start()
        return self

    def drain(self) -> None:
        """Refuse every new request with 503, then close the forwarder: everything that was
        acknowledged is delivered (Kafka) or left for the flow to finish (queue)."""
        with self._lock:
            self._draining = True
        self.forwarder.close()

    def stop(self) -> None:
        """Drain, then stop serving."""
        if self._stopped:
            return
        self._stopped = True
        self.drain()
        self._server.stop()

    def summary(self) -> dict[str, int]:
        """The counts, for the run summary."""
        with self._lock:
            return dict(self.counts)

    # -- HTTP -------------------------------------------------------------------------------

    async def _health(self, _request: Request) -> Response:
        return _json(200, {"ok": True, "draining": self._draining})

    async def _post(self, request: Request) -> Response:
        call = request.path_params["call"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        client = request.client.host if request.client else ""
        if self._draining:
            return self._reply(*self._refused())
        key = header_key(headers.get("authorization"))
        try:
            if key is not None:  # a Basic key is checked before the body is read
                authenticate(key, self.write_keys, self.admin_keys)
        except IntakeError as e:
            return self._reply(*self._rejected(e, client, key), close=True)
        declared = int(headers.get("content-length", "0"))  # h11 checked it is digits
        body = bytearray()
        seen = 0
        try:
            if declared <= _DISCARD_BYTES:
                async for chunk in request.stream():
                    seen += len(chunk)
                    if seen > _DISCARD_BYTES:
                        break
                    if len(body) <= MAX_BATCH_BYTES:  # beyond: read and drop, so the
                        body += chunk                 # client sees the reply
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; nothing was kept
        if declared > MAX_BATCH_BYTES or len(body) > MAX_BATCH_BYTES:
            e = IntakeError(400, "body_too_large", "request is larger than 500 KB",
                            b"" if key else None)  # unauthenticated: keep nothing
            return self._reply(*self._rejected(e, client, key), close=True)
        reply, pending = self.accept(call, bytes(body), headers, client)
        if pending is not None:
            confirmed = False
            try:
                confirmed = await _confirmed(pending.receipts(), self.delivery_timeout)
            finally:  # also when the request is cancelled (shutdown): nothing is left held
                reply = self.settle(pending, confirmed)
        return self._reply(*reply)

    def _reply(self, status: int, body: dict[str, Any], extra: dict[str, str],
               close: bool = False) -> Response:
        metrics.collector_requests_by(str(status)).inc()
        if close:
            extra = {**extra, "Connection": "close"}
        return _json(status, body, extra)

    def _refused(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.counts["refused_requests"] += 1
        metrics.collector_rejected_by("draining").inc()
        return 503, {"success": False, "code": "draining",
                     "message": "the collector is shutting down; send to another one"}, {
            "Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}

    # -- the request, I/O-free but for the forwarder ------------------------------------------

    def handle(self, call: str, body: bytes, headers: dict[str, str],
               client: str = "") -> Reply:
        """One request → (status, JSON reply, extra headers), once what it kept is durable
        (a 503 if that took over `delivery_timeout`). Thread-safe; blocks meanwhile."""
        reply, pending = self.accept(call, body, headers, client)
        if pending is None:
            return reply
        deadline = time.monotonic() + self.delivery_timeout
        ok = all(r.wait(max(deadline - time.monotonic(), 0.0)) for r in pending.receipts())
        return self.settle(pending, ok)

    def settle(self, pending: _Pending, confirmed: bool) -> Reply:
        """The reply to a taken request once its receipts said `confirmed` (or timed out)."""
        with self._lock:
            mine = [mid for mid in pending.ids if self._inflight.get(mid) is pending.receipt]
            for mid in mine:
                del self._inflight[mid]
            if confirmed:
                c = self.counts
                c["acknowledged"] += len(pending.ids)
                c["duplicates"] += pending.duplicates
                c["rejected"] += len(pending.rejected)
                c["dead_lettered"] += pending.dead
                c["dead_letters_dropped"] += len(pending.rejected) - pending.dead
            else:  # forgotten, so the retry passes (unless a later copy now holds the id)
                for mid in mine:
                    self.dedupe.discard(mid)
                metrics.dedupe_ids_by("collector").set(len(self.dedupe))
                self.counts["unconfirmed_requests"] += 1
        if confirmed:
            metrics.collector_events_by("accepted").inc(len(pending.ids))
            metrics.collector_events_by("duplicate").inc(pending.duplicates)
            for code in pending.rejected:
                metrics.collector_rejected_by(code).inc()
            metrics.collector_events_by("rejected").inc(len(pending.rejected))
            return pending.reply
        metrics.collector_rejected_by("not_delivered").inc()
        return 503, {"success": False, "code": "not_delivered",
                     "message": "the events could not be stored in time; retry later"}, {
            "Retry-After": str(RETRY_AFTER_SECONDS)}

    def accept(self, call: str, body: bytes, headers: dict[str, str],
               client: str = "") -> tuple[Reply, _Pending | None]:
        """Judge a request and hand what it keeps to the forwarder: the reply, and what it
        waits on before it may be sent (None: send it now)."""
        key = header_key(headers.get("authorization"))
        try:
            intake = parse_request(call, body, headers, write_keys=self.write_keys,
                                   admin_keys=self.admin_keys, received=time.time(),
                                   restricted=restricted)
        except IntakeError as e:
            return self._rejected(e, client, key), None
        key = intake.key
        origin = f"collector:/v1/{call[:20]}"
        dead = self._dead_letters(intake.rejected, origin, client, key)
        now = time.time()
        with self._lock:
            if self._draining:
                return self._refused(), None
            fresh: list[Accepted] = []
            ids: list[str] = []
            waits_on: list[Receipt] = []
            for a in intake.accepted:
                mid = _dedupe_key(a.event)
                if mid in ids or self.dedupe.seen(mid, now):
                    first = self._inflight.get(mid)
                    if first is not None and first not in waits_on:
                        waits_on.append(first)
                    continue
                ids.append(mid)
                fresh.append(a)
            receipt = Receipt()
            verdict = self.forwarder.offer(fresh, dead, receipt) if fresh or dead else "ok"
            if verdict == "closed":
                self._draining = True
                return self._refused(), None
            if verdict == "full":
                self.counts["refused_requests"] += 1
                metrics.collector_rejected_by("overloaded").inc()
                return (429, {"success": False, "code": "overloaded",
                              "message": "too many events in flight; retry later"}, {
                    "Retry-After": str(RETRY_AFTER_SECONDS)}), None
            for mid in ids:
                self.dedupe.add(mid, now)
                self._inflight[mid] = receipt
            metrics.dedupe_ids_by("collector").set(len(self.dedupe))
        reply: Reply
        if not intake.rejected:
            reply = 200, {"success": True}, {}
        else:
            rejected = [{"index": r.index, "code": r.code, "message": r.message}
                        for r in intake.rejected]
            first = intake.rejected[0]
            reply = (200, {"success": True, "accepted": len(intake.accepted),
                           "rejected": rejected}, {}) if intake.accepted else (
                400, {"success": False, "code": first.code, "message": first.message,
                      "rejected": rejected}, {})
        return reply, _Pending(reply, receipt, ids, len(intake.accepted) - len(fresh),
                               [r.code for r in intake.rejected], len(dead), waits_on)

    def _dead_letters(self, rejected: list[Rejected], origin: str, client: str,
                      key: str | None) -> list[DeadLetter]:
        out = []
        for r in rejected:
            if self.budget.allow(_sources(client, key), len(r.payload)):
                out.append(DeadLetter(r.code, r.message, r.payload, "events", origin,
                                      "IntakeError"))
            else:
                metrics.DEAD_LETTERS_DROPPED.inc()
        return out

    def _rejected(self, e: IntakeError, client: str,
                  key: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A request rejected whole; dead-lettered only when authenticated (`e.payload`)."""
        metrics.collector_rejected_by(e.code).inc()
        reply = {"success": False, "code": e.code, "message": e.message}
        if e.payload is None:
            return e.status, reply, {}
        with self._lock:
            if self._draining:
                return self._refused()
            if not self.budget.allow(_sources(client, key), len(e.payload)):
                metrics.DEAD_LETTERS_DROPPED.inc()
                self.counts["dead_letters_dropped"] += 1
                return e.status, reply, {}
            dead = DeadLetter(e.code, e.message, e.payload, "events", "collector",
                              "IntakeError")
            verdict = self.forwarder.offer([], [dead])
            if verdict == "ok":
                self.counts["dead_lettered"] += 1
            elif verdict == "closed":
                self._draining = True
                return self._refused()
            else:
                self.counts["dead_letters_dropped"] += 1
        return e.status, reply, {}


async def _confirmed(receipts: list[Receipt], timeout: float) -> bool:
    """Await every receipt (on the event loop: the producer's thread settles them) within
    `timeout` seconds; whether all were confirmed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for r in receipts:
        if not r.done:
            settled = loop.create_future()

            def wake(f: asyncio.Future[None] = settled) -> None:
                loop.call_soon_threadsafe(lambda: f.done() or f.set_result(None))

            r.when_done(wake)
            try:
                await asyncio.wait_for(settled, max(deadline - loop.time(), 0.0))
            except TimeoutError:
                return False
        if not r.ok:
            return False
    return True


def _dedupe_key(event: Event) -> str:
    """`messageId` and a digest of the event's content, its times left out (a retry is
    re-stamped: `sentAt`, `receivedAt` and the corrected `timestamp` change)."""
    content = orjson.dumps(
        [event.type, event.event, event.name, event.user_id, event.anonymous_id,
         event.previous_id, event.properties, event.traits, event.context, event.region,
         event.signals], option=orjson.OPT_SORT_KEYS)
    return f"{event.message_id}\0{hashlib.blake2b(content, digest_size=8).hexdigest()}"


def _sources(client: str, key: str | None) -> list[str]:
    out = ["ip:" + client]
    if key:
        out.append("key:" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest())
    return out


def _json(status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=extra,
                    media_type="application/json")
