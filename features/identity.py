"""Customer identity: keyed hashes for state keys, and anonymous → known routing."""

from __future__ import annotations

import functools
import hashlib

import orjson

from features.decode import opt_str
from features.errors import DecodeError
from features.schema import Event

__all__ = ["ROUTING_PARSE_LIMIT", "customer_key", "device_id", "hash_key", "known_id",
           "payload_ids", "payload_routing_id", "routing_id"]

_PERSON = b"journey.secret"

ROUTING_PARSE_LIMIT = 1 << 20
"""Bytes above which a rejected record's identity is not looked for (`payload_routing_id`)."""


@functools.lru_cache(maxsize=16)
def hash_key(secret: bytes) -> bytes:
    """The BLAKE2b key for `secret`: itself up to BLAKE2b's 64-byte limit, else (as HMAC does
    with long keys) its 64-byte BLAKE2b digest under a fixed personalisation. An empty secret
    is refused: it would leave the hashes unkeyed."""
    if not secret:
        msg = "the hashing secret is empty: set JOURNEY_SECRET to a random value"
        raise ValueError(msg)
    if len(secret) <= hashlib.blake2b.MAX_KEY_SIZE:
        return secret
    return hashlib.blake2b(secret, digest_size=64, person=_PERSON).digest()


def customer_key(customer_id: str, secret: bytes) -> str:
    """Keyed BLAKE2b of a customer id: the only form ids take as state keys or in logs.

    `secret` may be any non-empty length (see `hash_key`)."""
    return hashlib.blake2b(customer_id.encode(), key=hash_key(secret),
                           digest_size=12).hexdigest()


def known_id(user_id: str) -> str:
    """The id a known customer's state key hashes (`customer_key`): from the `userId`."""
    return "u:" + user_id


def device_id(anonymous_id: str) -> str:
    """The id a device profile's state key hashes (`customer_key`): from the `anonymousId`."""
    return "a:" + anonymous_id


def routing_id(event: Event) -> tuple[str, bool]:
    """(id, known) an event belongs to before identity resolution.

    Alias calls belong to their `previousId` (the anonymous profile being merged); otherwise
    an event with an `anonymousId` goes to that device profile, which forwards it to the known
    customer once linked; a `userId`-only event goes straight to the known customer.
    """
    if event.type == "alias" and event.previous_id is not None:
        return device_id(event.previous_id), False
    if event.anonymous_id is not None:
        return device_id(event.anonymous_id), False
    assert event.user_id is not None
    return known_id(event.user_id), True


def payload_ids(payload: bytes) -> list[tuple[str, bool]]:
    """Every (id, known) the raw bytes of a rejected record name, best effort, device first
    (as an event is routed: its device's step, then its customer's), so its dead letter can
    meet the state of each and be redacted if either was erased.

    The `anonymousId` (the device) and the `userId` (the known customer) of a JSON object,
    each read as `decode` reads it. Empty when the bytes are no JSON object or name neither,
    or exceed `ROUTING_PARSE_LIMIT` (a hostile line is not parsed twice; such a record is
    dead-lettered whole).
    """
    if len(payload) > ROUTING_PARSE_LIMIT:
        return []
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(obj, dict):
        return []
    out = []
    for field, known in (("anonymousId", False), ("userId", True)):
        try:
            value = opt_str(obj, field)
        except DecodeError:  # of another type: as good as absent here
            continue
        if value is not None:
            out.append((known_id(value) if known else device_id(value), known))
    return out


def payload_routing_id(payload: bytes) -> tuple[str, bool] | None:
    """The (id, known) a rejected record's dead letter is routed by: the first of
    `payload_ids` (its device, else its customer), None when it names no one."""
    ids = payload_ids(payload)
    return ids[0] if ids else None
