"""Decode raw bytes into validated `Event`s with orjson; reject with a precise reason."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC as _UTC
from datetime import datetime
from typing import Any

import orjson

from features.errors import DecodeError
from features.schema import EVENT_TYPES, MAX_EVENT_BYTES, Event

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_AHEAD",
    "MAX_SIGNAL",
    "MILLIS_ABOVE",
    "REASONS",
    "decode",
    "opt_str",
    "parse_timestamp",
]

REASONS = (
    "oversized",
    "invalid_json",
    "invalid_utf8",
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
"""2000-01-01T00:00:00Z, the default floor of event time (`decode(earliest=...)`): anything
earlier is a device clock that was never set."""
LATEST = 4_102_444_800.0
"""2100-01-01T00:00:00Z: event time at or beyond it is always rejected, whatever the future
tolerance, so one outlier cannot push the watermark past every customer's state TTL."""
MAX_AHEAD = 900.0
"""Seconds an event may be ahead of the processing clock (beyond: a skewed clock, whose
event time would push the watermark ahead and fire every customer's timers early)."""
MILLIS_ABOVE = 1e11
"""Epoch-number timestamps above this are milliseconds (1e11 s is the year 5138)."""
MAX_SIGNAL = 1e6
"""Bound on a context signal's magnitude: beyond it (or non-finite) a signal would swamp the
feature vector, so the record is rejected as `out_of_range`."""


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any) -> float:
    """ISO-8601 string (Segment's format, `Z` allowed) or epoch number → epoch seconds.

    Naive timestamps are taken as UTC; numbers are seconds, or milliseconds above
    `MILLIS_ABOVE`. No range check here (see `decode`): a device clock may be anything.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        ts = float(value)
        if not math.isfinite(ts):
            msg = f"timestamp {value!r} is not a finite number"
            raise DecodeError(msg, reason="bad_timestamp")
        return ts / 1000.0 if ts > MILLIS_ABOVE else ts
    if not isinstance(value, str):
        msg = (f"timestamp must be an ISO-8601 string or epoch seconds/milliseconds, "
               f"got {type(value).__name__}")
        raise DecodeError(msg, reason="bad_timestamp")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        msg = f"timestamp {value[:40]!r} is not ISO-8601 (e.g. '2026-01-31T12:00:00Z')"
        raise DecodeError(msg, reason="bad_timestamp") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    return dt.timestamp()


def opt_str(obj: dict[str, Any], key: str) -> str | None:
    """A string field (ids among them) as `decode` reads it: None when absent or empty, an
    integer as its decimal string; `DecodeError` (`wrong_type`) for any other type."""
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
        f = float(v)
        if not abs(f) <= MAX_SIGNAL:  # also catches NaN
            msg = f"signals.{k}={f:.3g} is not a finite number within ±{MAX_SIGNAL:.0e}"
            raise DecodeError(msg, reason="out_of_range")
        out[k] = f
    return out


def _check_time(ts: float, now: float | None, max_ahead: float, earliest: float) -> None:
    if ts < earliest:
        msg = (f"timestamp {ts:.0f} is before {_utc(earliest)} (an unset device clock?); "
               "lower the floor (`earliest`) to accept older events")
        raise DecodeError(msg, reason="bad_timestamp")
    if ts >= LATEST:
        msg = f"timestamp {ts:.0f} is at or after 2100-01-01 (a corrupt clock or field)"
        raise DecodeError(msg, reason="bad_timestamp")
    if now is not None and ts > now + max_ahead:
        msg = (f"timestamp is {ts - now:.0f} s ahead of the clock (limit {max_ahead:.0f} s);"
               " send `sentAt` so the collector can correct the device's clock")
        raise DecodeError(msg, reason="future_timestamp")


def decode(raw: bytes | str, *, now: float | None = None,
           max_ahead: float = MAX_AHEAD, earliest: float = EARLIEST) -> Event:
    """Decode and validate one record; raise `DecodeError` with a reason code.

    Event time must lie in [`earliest`, `LATEST`). With `now` (the processing clock), events
    more than `max_ahead` seconds in the future are rejected too; without it (replays of
    recorded traffic, tests) only those bounds hold.
    """
    if not earliest < LATEST:
        msg = f"earliest={earliest!r} must be before 2100-01-01 ({LATEST:.0f})"
        raise ValueError(msg)
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")  # lone surrogates: invalid_utf8 below
    if len(raw) > MAX_EVENT_BYTES:
        msg = f"record is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES} (Segment's 32 KB)"
        raise DecodeError(msg, reason="oversized")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as u:
            msg = f"not UTF-8 text: byte {raw[u.start]:#04x} at offset {u.start}"
            raise DecodeError(msg, reason="invalid_utf8") from e
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
    _check_time(ts, now, max_ahead, earliest)
    message_id = opt_str(obj, "messageId") or hashlib.blake2b(raw, digest_size=12).hexdigest()
    if kind == "context":
        region = opt_str(obj, "region")
        if region is None:
            msg = "context records need a `region`"
            raise DecodeError(msg, reason="missing_region")
        return Event(type=kind, ts=ts, message_id=message_id, region=region,
                     signals=_signals(obj))
    user_id = opt_str(obj, "userId")
    anonymous_id = opt_str(obj, "anonymousId")
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
        event.event = opt_str(obj, "event")
        if event.event is None:
            msg = "track calls need an `event` name"
            raise DecodeError(msg, reason="missing_event_name")
    elif kind in ("page", "screen"):
        event.name = opt_str(obj, "name")
    elif kind == "alias":
        event.previous_id = opt_str(obj, "previousId")
        if event.previous_id is None or user_id is None:
            msg = "alias calls need `previousId` and `userId`"
            raise DecodeError(msg, reason="missing_previous_id")
    return event
