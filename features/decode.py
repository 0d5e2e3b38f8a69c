"""Decode raw bytes into validated `Event`s with orjson; reject with a precise reason."""

from __future__ import annotations

import hashlib
from datetime import UTC as _UTC
from datetime import datetime
from typing import Any

import orjson

from features.errors import DecodeError
from features.schema import EVENT_TYPES, MAX_EVENT_BYTES, Event

__all__ = ["EARLIEST", "MAX_AHEAD", "REASONS", "decode", "parse_timestamp"]

REASONS = (
    "oversized",
    "invalid_json",
    "not_an_object",
    "missing_type",
    "unknown_type",
    "missing_identity",
    "missing_event_name",
    "missing_previous_id",
    "missing_timestamp",
    "bad_timestamp",
    "future_timestamp",
    "wrong_type",
    "out_of_range",
    "missing_region",
    "processing_error",
)
"""Every dead-letter reason code (a closed set, so metric label cardinality stays bounded)."""

_TS_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
EARLIEST = 946_684_800.0
"""2000-01-01T00:00:00Z: anything earlier is a device clock that was never set."""
MAX_AHEAD = 900.0
"""Seconds an event may be ahead of the processing clock (beyond: a skewed clock, whose
event time would push the watermark ahead and fire every customer's timers early)."""


def parse_timestamp(value: Any) -> float:
    """ISO-8601 string (Segment's format, `Z` allowed) → epoch seconds.

    Naive timestamps are taken as UTC.
    """
    if not isinstance(value, str):
        msg = f"timestamp must be an ISO-8601 string, got {type(value).__name__}"
        raise DecodeError(msg, reason="bad_timestamp")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        msg = f"timestamp {value[:40]!r} is not ISO-8601 (e.g. '2026-01-31T12:00:00Z')"
        raise DecodeError(msg, reason="bad_timestamp") from e
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_UTC).timestamp()
    return dt.timestamp()



def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # Segment libraries accept numeric ids and send them as strings
    msg = f"{key} must be a string, got {type(v).__name__}"
    raise DecodeError(msg, reason="wrong_type")


def _opt_obj(obj: dict[str, Any], key: str) -> dict[str, Any]:
    v = obj.get(key)
    if v is None:
        return {}
    if isinstance(v, dict):
        return v
    msg = f"{key} must be a JSON object, got {type(v).__name__}"
    raise DecodeError(msg, reason="wrong_type")


def _event_time(obj: dict[str, Any]) -> float:
    for key in _TS_FIELDS:
        if obj.get(key) is not None:
            return parse_timestamp(obj[key])
    msg = "no timestamp: set `timestamp` (ISO-8601); event time drives features and timers"
    raise DecodeError(msg, reason="missing_timestamp")


def _signals(obj: dict[str, Any]) -> dict[str, float]:
    raw = _opt_obj(obj, "signals")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            msg = f"signals.{k} must be a number, got {type(v).__name__}"
            raise DecodeError(msg, reason="wrong_type")
        out[k] = float(v)
    return out


def _check_time(ts: float, now: float | None, max_ahead: float) -> None:
    if ts < EARLIEST:
        msg = f"timestamp {ts:.0f} is before 2000-01-01 (an unset device clock?)"
        raise DecodeError(msg, reason="bad_timestamp")
    if now is not None and ts > now + max_ahead:
        msg = (f"timestamp is {ts - now:.0f} s ahead of the clock (limit {max_ahead:.0f} s);"
               " send `sentAt` so the collector can correct the device's clock")
        raise DecodeError(msg, reason="future_timestamp")


def decode(raw: bytes | str, *, now: float | None = None,
           max_ahead: float = MAX_AHEAD) -> Event:
    """Decode and validate one record; raise `DecodeError` with a reason code.

    With `now` (the processing clock), events more than `max_ahead` seconds in the future
    are rejected; without it (replays of recorded traffic, tests) only the lower bound holds.
    """
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_EVENT_BYTES:
        msg = f"record is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES} (Segment's 32 KB)"
        raise DecodeError(msg, reason="oversized")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        msg = f"not valid JSON: {e}"
        raise DecodeError(msg, reason="invalid_json") from e
    if not isinstance(obj, dict):
        msg = f"record must be a JSON object, got {type(obj).__name__}"
        raise DecodeError(msg, reason="not_an_object")
    kind = obj.get("type")
    if kind is None:
        msg = "`type` is missing (track, identify, page, ...)"
        raise DecodeError(msg, reason="missing_type")
    if not isinstance(kind, str):
        msg = f"type must be a string, got {type(kind).__name__}"
        raise DecodeError(msg, reason="wrong_type")
    if kind not in EVENT_TYPES:
        msg = f"unknown type {kind[:40]!r}; expected one of {sorted(EVENT_TYPES)}"
        raise DecodeError(msg, reason="unknown_type")
    ts = _event_time(obj)
    _check_time(ts, now, max_ahead)
    message_id = _opt_str(obj, "messageId") or hashlib.blake2b(raw, digest_size=12).hexdigest()
    if kind == "context":
        region = _opt_str(obj, "region")
        if region is None:
            msg = "context records need a `region`"
            raise DecodeError(msg, reason="missing_region")
        return Event(type=kind, ts=ts, message_id=message_id, region=region,
                     signals=_signals(obj))
    user_id = _opt_str(obj, "userId")
    anonymous_id = _opt_str(obj, "anonymousId")
    if user_id is None and anonymous_id is None:
        msg = "set `userId` or `anonymousId`"
        raise DecodeError(msg, reason="missing_identity")
    event = Event(
        type=kind,
        ts=ts,
        message_id=message_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties=_opt_obj(obj, "properties"),
        traits=_opt_obj(obj, "traits"),
        context=_opt_obj(obj, "context"),
    )
    if kind == "track":
        event.event = _opt_str(obj, "event")
        if event.event is None:
            msg = "track calls need an `event` name"
            raise DecodeError(msg, reason="missing_event_name")
    elif kind in ("page", "screen"):
        event.name = _opt_str(obj, "name")
    elif kind == "alias":
        event.previous_id = _opt_str(obj, "previousId")
        if event.previous_id is None or user_id is None:
            msg = "alias calls need `previousId` and `userId`"
            raise DecodeError(msg, reason="missing_previous_id")
    return event
