"""Customer identity: keyed hashes for state keys, and anonymous → known routing."""

from __future__ import annotations

import functools
import hashlib

from features.schema import Event

__all__ = ["customer_key", "hash_key", "routing_id"]

_PERSON = b"journey.secret"


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


def routing_id(event: Event) -> tuple[str, bool]:
    """(id, known) an event belongs to before identity resolution.

    Alias calls belong to their `previousId` (the anonymous profile being merged); otherwise
    an event with an `anonymousId` goes to that device profile, which forwards it to the known
    customer once linked; a `userId`-only event goes straight to the known customer.
    """
    if event.type == "alias" and event.previous_id is not None:
        return "a:" + event.previous_id, False
    if event.anonymous_id is not None:
        return "a:" + event.anonymous_id, False
    assert event.user_id is not None
    return "u:" + event.user_id, True
