"""Segment HTTP Tracking API requests → validated events (no I/O; the collector serves it).

Follows https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/:
`POST /v1/{track,identify,page,screen,alias,group}` carry one event, `/v1/batch` (and
`/v1/import`) carry `{"batch": [...]}`; the write key comes as Basic auth (key as user, empty
password) or as `writeKey` in the body; 32 KB per event, 500 KB per request. A request is
accepted or rejected whole, so a client that is told 400 knows nothing of it was kept.
Like Segment, the server stamps `receivedAt` and corrects device clock skew:
`timestamp = receivedAt - (sentAt - originalTimestamp)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from features.decode import decode, parse_timestamp
from features.errors import DecodeError
from features.schema import MAX_EVENT_BYTES, Event

__all__ = [
    "CALLS",
    "MAX_BATCH_BYTES",
    "REASONS",
    "Accepted",
    "IntakeError",
    "forget_request",
    "parse_request",
]

MAX_BATCH_BYTES = 500 * 1024
"""Segment's per-request limit (after decompression)."""

CALLS = frozenset({"track", "identify", "page", "screen", "alias", "group"})
"""Single-event endpoints; their path names the call type."""

REASONS = (
    "unauthorized",
    "body_too_large",
    "event_too_large",
    "invalid_json",
    "invalid_request",
    "unsupported_encoding",
    "invalid_event",
)
"""Rejection codes at the edge (a closed set: they label a metric)."""


class IntakeError(Exception):
    """A rejected request: HTTP status, a code from `REASONS`, and a message for the sender."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Accepted:
    """One validated event: its (re-serialized, enriched) bytes and its decoded form."""

    payload: bytes
    event: Event


def _basic_key(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        user = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return user.split(":", 1)[0] or None


def _authorize(key: str | None, write_keys: Collection[str]) -> None:
    if not key:
        raise IntakeError(401, "unauthorized",
                          "no write key: send it as Basic auth user or as `writeKey`")
    if write_keys and not any(hmac.compare_digest(key.encode(), k.encode())
                              for k in write_keys):
        raise IntakeError(401, "unauthorized", "unknown write key")


def _inflate(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    if encoding != "gzip":
        raise IntakeError(400, "unsupported_encoding",
                          f"Content-Encoding {encoding[:20]!r}: only gzip is supported")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(body, MAX_BATCH_BYTES + 1)
    except zlib.error as e:
        raise IntakeError(400, "invalid_request", f"body is not valid gzip: {e}") from e
    if len(raw) > MAX_BATCH_BYTES:
        raise IntakeError(400, "body_too_large",
                          f"request inflates beyond {MAX_BATCH_BYTES} bytes (Segment's 500 KB)")
    return raw


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _stamp(msg: dict[str, Any], received: float, sent_at: Any) -> None:
    """Segment's server-side fields: receivedAt, and the clock-skew-corrected timestamp."""
    msg["receivedAt"] = _iso(received)
    sent = msg.get("sentAt", sent_at)
    original = msg.get("timestamp")
    if original is None:
        msg["timestamp"] = msg["receivedAt"]
        return
    if sent is None:
        return
    try:
        skew = received - parse_timestamp(sent)
        corrected = parse_timestamp(original) + skew
    except DecodeError:
        return  # the decoder names the bad timestamp below
    msg["originalTimestamp"] = original
    msg["timestamp"] = _iso(corrected)


def _validate(index: int, msg: Any, call: str | None, received: float,
              sent_at: Any) -> Accepted:
    where = "event" if index < 0 else f"batch[{index}]"
    if not isinstance(msg, dict):
        raise IntakeError(400, "invalid_request", f"{where} must be a JSON object")
    if call is not None:
        msg["type"] = call
    elif msg.get("type") not in CALLS:
        raise IntakeError(400, "invalid_event",
                          f"{where}: type must be one of {sorted(CALLS)}")
    msg.pop("writeKey", None)
    _stamp(msg, received, sent_at)
    if "messageId" not in msg:
        digest = hashlib.blake2b(orjson.dumps(msg, option=orjson.OPT_SORT_KEYS), digest_size=16)
        msg["messageId"] = "journey-" + digest.hexdigest()
    payload = orjson.dumps(msg)
    if len(payload) > MAX_EVENT_BYTES:
        raise IntakeError(400, "event_too_large",
                          f"{where} is {len(payload)} bytes; the limit is 32 KB")
    try:
        event = decode(payload)
    except DecodeError as e:
        raise IntakeError(400, "invalid_event", f"{where}: {e} ({e.reason})") from e
    return Accepted(payload, event)


def parse_request(call: str, body: bytes, headers: Mapping[str, str], *,
                  write_keys: Collection[str] = (), received: float) -> list[Accepted]:
    """Validate one request to `/v1/<call>`; raise `IntakeError` or return its events.

    `headers` are looked up by lower-case name; `received` is the server's clock (epoch s).
    """
    if call not in CALLS and call not in ("batch", "import"):
        raise IntakeError(404, "invalid_request", f"no endpoint /v1/{call[:20]}")
    if len(body) > MAX_BATCH_BYTES:
        raise IntakeError(400, "body_too_large",
                          f"request is {len(body)} bytes; the limit is 500 KB")
    raw = _inflate(body, headers.get("content-encoding"))
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise IntakeError(400, "invalid_json", f"body is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise IntakeError(400, "invalid_request", "body must be a JSON object")
    key = _basic_key(headers.get("authorization"))
    body_key = obj.get("writeKey")
    _authorize(key or (body_key if isinstance(body_key, str) else None), write_keys)
    if call in CALLS:
        return [_validate(-1, obj, call, received, None)]
    batch = obj.get("batch")
    if not isinstance(batch, list) or not batch:
        raise IntakeError(400, "invalid_request", "`batch` must be a non-empty list of events")
    return [_validate(i, m, None, received, obj.get("sentAt")) for i, m in enumerate(batch)]


def forget_request(user_id: str | None, anonymous_id: str | None, now: float) -> Accepted:
    """The erasure event an admin sends for a customer: Segment's `User Deleted` track call
    (the flow treats it as `Forget Me`: state erased, later events skipped)."""
    if not user_id and not anonymous_id:
        msg = "a forget request needs a user id or an anonymous id"
        raise ValueError(msg)
    msg_obj: dict[str, Any] = {"type": "track", "event": "User Deleted", "timestamp": _iso(now),
                               "receivedAt": _iso(now), "properties": {"source": "admin"}}
    if user_id:
        msg_obj["userId"] = user_id
    if anonymous_id:
        msg_obj["anonymousId"] = anonymous_id
    payload = orjson.dumps(msg_obj)
    return Accepted(payload, decode(payload))
