"""Segment HTTP Tracking API requests → validated events (no I/O; the collector serves it).

Follows https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/:
`POST /v1/{track,identify,page,screen,alias,group}` carry one event, `/v1/batch` (and
`/v1/import`) carry `{"batch": [...]}`; the write key comes as Basic auth (key as user, empty
password) or as `writeKey` in the body; 32 KB per event, 500 KB per request.

A request is authenticated before anything of it is kept: a Basic key is checked before the
body is read, a body `writeKey` once the body parses, and a body that does not parse without
a valid Basic key is `unauthorized` (nothing stored). Each event of an authenticated batch is
then judged on its own: good ones are accepted, each bad one is returned as `Rejected` with
its original bytes, whole, and its reason. Events that erase a customer or change consent need
a privileged (server-side, admin) key; accepted events of a privileged request carry
`PRIVILEGED_FIELD: true`, which is stripped from what clients send.

Like Segment, the server stamps `receivedAt` and corrects device clock skew:
`timestamp = receivedAt - (sentAt - originalTimestamp)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from features.decode import EARLIEST, LATEST, decode, parse_timestamp
from features.errors import DecodeError
from features.schema import MAX_EVENT_BYTES, Event

__all__ = [
    "CALLS",
    "MAX_BATCH_BYTES",
    "PRIVILEGED_FIELD",
    "REASONS",
    "Accepted",
    "Intake",
    "IntakeError",
    "Rejected",
    "authenticate",
    "forget_request",
    "header_key",
    "parse_request",
]

MAX_BATCH_BYTES = 500 * 1024
"""Segment's per-request limit (after decompression)."""

CALLS = frozenset({"track", "identify", "page", "screen", "alias", "group"})
"""Single-event endpoints; their path names the call type."""

PRIVILEGED_FIELD = "journeyPrivileged"
"""Top-level field set (true) on events that came through a privileged path (an admin key or
`journey forget`); the collector removes it from anything a client sends."""

REASONS = (
    "unauthorized",
    "body_too_large",
    "event_too_large",
    "invalid_json",
    "invalid_request",
    "unsupported_encoding",
    "invalid_event",
    "not_privileged",
)
"""Rejection codes at the edge (a closed set: they label a metric)."""


class IntakeError(Exception):
    """A rejected request: HTTP status, a code from `REASONS`, a message for the sender, and
    the bytes to dead-letter (None: keep nothing, e.g. the sender is not authenticated)."""

    def __init__(self, status: int, code: str, message: str,
                 payload: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.payload = payload


@dataclass(frozen=True, slots=True)
class Accepted:
    """One validated event: its (re-serialized, enriched) bytes and its decoded form."""

    payload: bytes
    event: Event


@dataclass(frozen=True, slots=True)
class Rejected:
    """One event of a request that was not accepted: its index in the batch (-1 for a
    single-event call), a code from `REASONS`, why, and the event's bytes as sent."""

    index: int
    code: str
    message: str
    payload: bytes


@dataclass(slots=True)
class Intake:
    """What one authenticated request brought: accepted and rejected events."""

    privileged: bool
    key: str
    """The key that authenticated the request."""
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def header_key(authorization: str | None) -> str | None:
    """The write key of an HTTP Basic `Authorization` header (user part), if any."""
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        user = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return user.split(":", 1)[0] or None


def _known(key: str, keys: Collection[str]) -> bool:
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def authenticate(key: str | None, write_keys: Collection[str] = (),
                 admin_keys: Collection[str] = ()) -> bool:
    """Check a key; True for an admin (privileged) key. Raise `IntakeError` (401) otherwise.

    Without `write_keys` any non-empty key is an (unprivileged) write key.
    """
    if not key:
        raise IntakeError(401, "unauthorized",
                          "no write key: send it as Basic auth user or as `writeKey`")
    if admin_keys and _known(key, admin_keys):
        return True
    if write_keys and not _known(key, write_keys):
        raise IntakeError(401, "unauthorized", "unknown write key")
    return False


def _inflate(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "").strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise IntakeError(400, "unsupported_encoding",
                          f"Content-Encoding {encoding[:20]!r}: only gzip is supported", body)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(body, MAX_BATCH_BYTES + 1)
    except zlib.error as e:
        raise IntakeError(400, "invalid_request", f"body is not valid gzip: {e}", body) from e
    if len(raw) > MAX_BATCH_BYTES:
        raise IntakeError(400, "body_too_large",
                          f"request inflates beyond {MAX_BATCH_BYTES} bytes (Segment's 500 KB)",
                          body)
    return raw


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _stamp(where: str, msg: dict[str, Any], received: float, sent_at: Any) -> None:
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
        corrected = parse_timestamp(original) + (received - parse_timestamp(sent))
    except DecodeError:
        return  # the decoder names the bad timestamp below
    if not EARLIEST <= corrected < LATEST:
        return  # a sentAt that would move the time out of range is the wrong clock: the
        # event keeps its own timestamp, which the decoder then judges on its own
    msg["originalTimestamp"] = original
    msg["timestamp"] = _iso(corrected)


def _strip_consent(msg: dict[str, Any]) -> None:
    """Consent only from a privileged key: a write key's event keeps everything but the
    consent it carries (`traits.consent`, `context.consent`, `context.traits.consent`), so
    a browser with a consent manager still tracks, and nobody re-consents someone else."""
    for holder, key in ((msg, "traits"), (msg, "context")):
        part = holder.get(key)
        if isinstance(part, dict) and "consent" in part:
            holder[key] = {k: v for k, v in part.items() if k != "consent"}
    ctx = msg.get("context")
    traits = ctx.get("traits") if isinstance(ctx, dict) else None
    if isinstance(traits, dict) and "consent" in traits:
        msg["context"] = {**ctx, "traits": {k: v for k, v in traits.items() if k != "consent"}}


def _validate(index: int, msg: Any, call: str | None, received: float, sent_at: Any,
              privileged: bool, restricted: Callable[[Event], str | None] | None) -> Accepted:
    where = "event" if index < 0 else f"batch[{index}]"
    if not isinstance(msg, dict):
        raise IntakeError(400, "invalid_request", f"{where} must be a JSON object")
    msg = dict(msg)  # top-level fields are rewritten; the original stays for a dead letter
    if call is not None:
        msg["type"] = call
    elif not isinstance(msg.get("type"), str) or msg["type"] not in CALLS:
        raise IntakeError(400, "invalid_event",
                          f"{where}: type must be one of {sorted(CALLS)}")
    msg.pop("writeKey", None)
    msg.pop(PRIVILEGED_FIELD, None)
    if not privileged:
        _strip_consent(msg)
    _stamp(where, msg, received, sent_at)
    try:
        if "messageId" not in msg:
            digest = hashlib.blake2b(orjson.dumps(msg, option=orjson.OPT_SORT_KEYS),
                                     digest_size=16)
            msg["messageId"] = "journey-" + digest.hexdigest()
        if privileged:
            msg[PRIVILEGED_FIELD] = True
        payload = orjson.dumps(msg)
    except orjson.JSONEncodeError as e:  # nesting beyond 254 levels, integers beyond 64 bits
        raise IntakeError(400, "invalid_event", f"{where}: cannot be re-encoded ({e}): "
                          "flatten it (at most 254 levels) and keep integers within 64 bits"
                          ) from e
    if len(payload) > MAX_EVENT_BYTES:
        raise IntakeError(400, "event_too_large",
                          f"{where} is {len(payload)} bytes; the limit is 32 KB")
    try:
        event = decode(payload)
    except DecodeError as e:
        raise IntakeError(400, "invalid_event", f"{where}: {e} ({e.reason})") from e
    if not privileged and restricted is not None and (why := restricted(event)):
        raise IntakeError(403, "not_privileged",
                          f"{where}: {why} needs a server-side admin key (--admin-keys) or "
                          "`journey forget`; a browser or write key cannot send it")
    return Accepted(payload, event)


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)


def _batch_elements(raw: bytes) -> list[bytes]:
    """The bytes of each element of the top-level `batch` array of a valid JSON object,
    as sent (strings are skipped whole, so brackets inside them do not count)."""
    depth, key, expect_key, inside = 0, None, False, False
    found: list[bytes] = []
    parts: list[bytes] = []
    start = 0
    for m in _TOKEN.finditer(raw):
        tok = m.group()
        if tok[:1] == b'"':
            if depth == 1 and expect_key:
                key, expect_key = orjson.loads(tok), False
        elif tok in (b"[", b"{"):
            depth += 1
            expect_key = depth == 1
            if depth == 2 and tok == b"[" and key == "batch":
                inside, parts, start = True, [], m.end()
        elif tok in (b"]", b"}"):
            if depth == 2 and inside:
                piece = raw[start:m.start()].strip()
                found = [*parts, piece] if piece else parts
                inside = False
            depth -= 1
        elif depth == 1:
            expect_key, key = True, None
        elif depth == 2 and inside:
            parts.append(raw[start:m.start()].strip())
            start = m.end()
    return found


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return b""


def _redacted(payload: bytes, msg: Any) -> bytes:
    """`payload` with the value of a top-level `writeKey` of `msg` masked (keys are not
    stored in dead letters)."""
    key = msg.get("writeKey") if isinstance(msg, dict) else None
    if isinstance(key, str) and key:
        return payload.replace(orjson.dumps(key), b'"<redacted>"')
    return payload


def parse_request(call: str, body: bytes, headers: Mapping[str, str], *,
                  write_keys: Collection[str] = (), admin_keys: Collection[str] = (),
                  received: float,
                  restricted: Callable[[Event], str | None] | None = None) -> Intake:
    """Authenticate and judge one request to `/v1/<call>`.

    Raise `IntakeError` for the request as a whole (401 unauthenticated, 404, 400 for a body
    that is not a batch of events); else return each event accepted or rejected. `headers`
    are looked up by lower-case name; `received` is the server's clock (epoch s);
    `restricted(event)` says why an event needs a privileged key (None: it does not).
    """
    if call not in CALLS and call not in ("batch", "import"):
        raise IntakeError(404, "invalid_request", f"no endpoint /v1/{call[:20]}")
    key = header_key(headers.get("authorization"))
    privileged = authenticate(key, write_keys, admin_keys) if key else None
    try:
        if len(body) > MAX_BATCH_BYTES:
            raise IntakeError(400, "body_too_large",
                              f"request is {len(body)} bytes; the limit is 500 KB", body)
        raw = _inflate(body, headers.get("content-encoding"))
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise IntakeError(400, "invalid_json", f"body is not valid JSON: {e}", raw) from e
        if not isinstance(obj, dict):
            raise IntakeError(400, "invalid_request", "body must be a JSON object", raw)
    except IntakeError as e:
        if privileged is None:  # nobody vouches for these bytes: keep nothing
            msg = f"no valid write key in a Basic auth header, and the body is unusable ({e})"
            raise IntakeError(401, "unauthorized", msg) from e
        raise
    if key is None or privileged is None:
        body_key = obj.get("writeKey")
        key = body_key if isinstance(body_key, str) else None
        privileged = authenticate(key, write_keys, admin_keys)
    assert key is not None
    if call in CALLS:
        items, sent_at = [obj], None
    else:
        items, sent_at = obj.get("batch"), obj.get("sentAt")
        if not isinstance(items, list) or not items:
            raise IntakeError(400, "invalid_request",
                              "`batch` must be a non-empty list of events", _redacted(raw, obj))
    out = Intake(privileged, key)
    elements: list[bytes] | None = None
    for i, m in enumerate(items):
        index = -1 if call in CALLS else i
        try:
            out.accepted.append(
                _validate(index, m, call if call in CALLS else None, received, sent_at,
                          privileged, restricted))
        except IntakeError as e:
            if elements is None:
                elements = [raw] if call in CALLS else _batch_elements(raw)
                if len(elements) != len(items):  # cannot happen for valid JSON; be safe
                    elements = [_dumps(x) for x in items]
            out.rejected.append(Rejected(index, e.code, e.message,
                                         _redacted(elements[i], m)))
    return out


def forget_request(user_id: str | None, anonymous_id: str | None, now: float) -> Accepted:
    """The erasure event an admin sends for a customer: Segment's `User Deleted` track call
    (the flow treats it as `Forget Me`: state erased, later events skipped), privileged."""
    if not user_id and not anonymous_id:
        msg = "a forget request needs a user id or an anonymous id"
        raise ValueError(msg)
    msg_obj: dict[str, Any] = {"type": "track", "event": "User Deleted", "timestamp": _iso(now),
                               "receivedAt": _iso(now), "properties": {"source": "admin"},
                               PRIVILEGED_FIELD: True}
    if user_id:
        msg_obj["userId"] = user_id
    if anonymous_id:
        msg_obj["anonymousId"] = anonymous_id
    payload = orjson.dumps(msg_obj)
    return Accepted(payload, decode(payload))
